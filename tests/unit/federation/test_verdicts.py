"""judge_round on a tiny classifier: honest updates (IID and label-skewed) pass, each attack
gets its reason code, verdicts are reproducible, the history catches replays and survives JSON."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from milon_app.compute.trainer import train
from milon_app.compute.weights import encode_state
from milon_app.errors import BadInputError
from milon_app.federation import Submission, apply_delta, state_delta
from milon_app.federation.deltas import CHUNK
from milon_app.federation.evaluator import GroupLosses, make_evaluator
from milon_app.federation.fingerprints import JudgeHistory, RoundPrint, delta_stats, sketch_cosine
from milon_app.federation.verdicts import (
    Reason,
    Verdict,
    VerdictPolicy,
    judge_round,
    majority_accepts,
    unavailable,
)
from tests.unit.federation.tiny_task import CLASSES, blobs, tiny_spec

MAX = 1 << 20


@pytest.fixture(scope="module")
def world():
    """A base model trained briefly, a validator's data and honest updates (IID and skewed)."""
    torch.set_num_threads(1)
    spec = tiny_spec()
    base = train(spec, None, blobs(60, 99), epochs=1, seed=0, threads=1).state
    val = blobs(90, 1234)
    iid = {
        f"0x{i + 1:02x}": train(spec, base, blobs(60, i), epochs=3, seed=i, threads=1)
        for i in range(5)
    }
    skew = {
        f"0x{i + 11:02x}": train(
            spec, base, blobs(60, 50 + i, (i % 3,)), epochs=3, seed=i, threads=1
        )
        for i in range(6)
    }
    return spec, base, val, iid, skew


def subs_of(results: dict) -> list[Submission]:
    return [Submission(cid, r.update_bytes, r.num_samples) for cid, r in sorted(results.items())]


def judge(world, subs, **kwargs):
    spec, base, val, _, _ = world
    return judge_round(base, subs, val_data=val, spec=spec, max_bytes=MAX, **kwargs)


def tampered(base, state, scale: float) -> bytes:
    return encode_state(apply_delta(base, state_delta(base, state), scale=scale))


def test_reason_codes_are_pinned():
    # stored on chain and in logs: never renumber
    assert {r.name: int(r) for r in Reason} == {
        "ACCEPTED": 0,
        "UNAVAILABLE": 1,
        "MALFORMED": 2,
        "INCOMPATIBLE": 3,
        "NON_FINITE": 4,
        "BAD_SAMPLES": 5,
        "UNCHANGED": 6,
        "DUPLICATE": 7,
        "REPLAY": 8,
        "NO_IMPROVEMENT": 9,
        "HARMFUL": 10,
    }


def test_honest_iid_and_skewed_updates_are_accepted(world):
    _, _, _, iid, skew = world
    for group in (iid, skew, {**iid, **skew}):
        verdicts = judge(world, subs_of(group))
        assert all(v.accepted for v in verdicts.values()), {
            c: v.detail for c, v in verdicts.items() if not v.accepted
        }
        assert list(verdicts) == sorted(group)


def attack_blob(world, name: str) -> bytes:
    _, base, _, iid, _ = world
    victim = iid["0x01"]
    gen = torch.Generator().manual_seed(5)
    if name == "signflip":  # x10, as milon_app.node.behaviour does it
        return tampered(base, victim.state, -10.0)
    if name == "noise":
        return encode_state(
            {k: v + 10 * torch.randn(v.shape, generator=gen) for k, v in victim.state.items()}
        )
    if name == "freerider":
        return encode_state(
            {k: v + 1e-6 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
        )
    if name == "lazy":
        return encode_state(base)
    return iid["0x02"].update_bytes  # a copy of 0x02


@pytest.mark.parametrize(
    ("attack", "reason", "words"),
    [
        ("signflip", Reason.HARMFUL, "lower without it"),
        ("noise", Reason.HARMFUL, "exceeds 100 x the median"),
        ("freerider", Reason.NO_IMPROVEMENT, "no training was done"),
        ("lazy", Reason.UNCHANGED, "equals the base model"),
        ("copy", Reason.DUPLICATE, "near-identical to 1 other update"),
    ],
)
def test_each_attack_gets_its_reason(world, attack, reason, words):
    _, _, _, iid, _ = world
    v = judge(world, [*subs_of(iid), Submission("0xa1", attack_blob(world, attack), 60)])
    assert v["0xa1"].reason is reason, v["0xa1"].detail
    assert words in v["0xa1"].detail
    honest_ok = [c for c in iid if v[c].accepted]
    assert honest_ok == (sorted(c for c in iid if c != "0x02") if attack == "copy" else sorted(iid))
    if attack == "copy":
        assert v["0x02"].reason is Reason.DUPLICATE and "0xa1" in v["0x02"].detail


def test_an_unboosted_sign_flip_points_against_the_round(world):
    # x1: its loss is no outlier, only its direction gives it away
    _, base, _, iid, skew = world
    flipped = tampered(base, iid["0x01"].state, -1.0)
    v = judge(world, [*subs_of(iid), Submission("0xa1", flipped, 60)])
    assert v["0xa1"].reason is Reason.HARMFUL, v["0xa1"].detail
    assert "points against the round" in v["0xa1"].detail
    assert all(v[c].accepted for c in iid)
    # label-skewed honest updates point every which way and stay accepted
    v = judge(world, subs_of({**skew, "0x01": iid["0x01"]}))
    assert all(x.accepted for x in v.values()), {c: x.detail for c, x in v.items()}
    assert min(x.metrics["median_cosine"] for x in v.values()) < 0.5


def test_jittered_copies_are_duplicates_but_distinct_honest_updates_are_not(world):
    _, base, _, iid, _ = world
    gen = torch.Generator().manual_seed(8)
    delta = state_delta(base, iid["0x03"].state)
    copies = []
    for k in range(2):
        jitter = {
            n: d + 1e-6 * torch.randn(d.shape, generator=gen, dtype=d.dtype)
            for n, d in delta.items()
        }
        copies.append(Submission(f"0xc{k}", encode_state(apply_delta(base, jitter)), 60))
    v = judge(world, subs_of({c: r for c, r in iid.items() if c != "0x03"}) + copies)
    assert v["0xc0"].reason is v["0xc1"].reason is Reason.DUPLICATE
    assert v["0xc0"].metrics["max_cosine"] > 0.9999
    honest_cos = [v[c].metrics["max_cosine"] for c in ("0x01", "0x02", "0x04", "0x05")]
    assert all(v[c].accepted for c in ("0x01", "0x02", "0x04", "0x05"))
    assert max(honest_cos) < 0.9999


@pytest.mark.parametrize(
    ("blob", "samples", "reason", "message"),
    [
        (b"short", 10, Reason.MALFORMED, "truncated"),
        (b"not safetensors", 10, Reason.MALFORMED, "bad header length"),
        (b"\x00" * 64, 10, Reason.MALFORMED, "header"),
        (None, 0, Reason.BAD_SAMPLES, "not a positive integer"),
        (None, 2**63, Reason.BAD_SAMPLES, "beyond any dataset"),
        ("shape", 10, Reason.INCOMPATIBLE, "shape"),
        ("nan", 10, Reason.NON_FINITE, "NaN or Inf"),
    ],
)
def test_broken_submissions(world, blob, samples, reason, message):
    _, base, _, iid, _ = world
    if blob is None:
        blob = iid["0x01"].update_bytes
    elif blob == "shape":
        bad = dict(base)
        bad["0.weight"] = torch.zeros(17, 4)
        blob = encode_state(bad)
    elif blob == "nan":
        bad = dict(base)
        bad["2.bias"] = torch.full((CLASSES,), math.nan)
        blob = encode_state(bad)
    v = judge(world, [*subs_of(iid), Submission("0xbad", blob, samples)])
    assert v["0xbad"].reason is reason and message in v["0xbad"].detail
    assert sum(x.accepted for x in v.values()) == len(iid)


def test_claims_over_the_jobs_max_samples(world):
    _, _, _, iid, _ = world
    subs = subs_of(iid)
    subs[0] = Submission(subs[0].client_id, subs[0].update_bytes, 61)
    v = judge(world, subs, policy=VerdictPolicy(max_samples=60))
    assert v[subs[0].client_id].reason is Reason.BAD_SAMPLES
    assert "max_samples 60" in v[subs[0].client_id].detail


def test_verdicts_are_reproducible_and_order_free(world):
    _, _, _, iid, skew = world
    subs = subs_of({**iid, **skew})
    first = judge(world, subs)
    shuffled = subs[:]
    random.Random(3).shuffle(shuffled)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        again = judge(world, shuffled)
    finally:
        torch.set_num_threads(threads)
    assert list(first) == list(again)
    for cid in first:
        assert first[cid] == again[cid]


def test_replays_are_caught_through_the_history(world):
    spec, base, val, iid, _ = world
    history = JudgeHistory(salt=42)
    v1 = judge(world, subs_of(iid), history=history)
    assert all(x.accepted for x in v1.values())
    assert len(history.rounds) == 1 and len(history.rounds[0].digests) == len(iid)
    # judging the same round again is not a replay of itself
    assert all(x.accepted for x in judge(world, subs_of(iid), history=history).values())
    assert len(history.rounds) == 1
    # the next round: a new base; 0xr1 resends an old blob, 0xr2 re-applies an old delta
    new_base = apply_delta(base, state_delta(base, iid["0x01"].state), scale=0.5)
    old_delta = state_delta(base, iid["0x02"].state)
    fresh = {
        f"0x{i + 31:02x}": train(spec, new_base, blobs(60, 70 + i), epochs=3, seed=i, threads=1)
        for i in range(4)
    }
    subs = [
        *subs_of(fresh),
        Submission("0xr1", iid["0x03"].update_bytes, 60),
        Submission("0xr2", encode_state(apply_delta(new_base, old_delta)), 60),
        Submission("0xr3", encode_state(base), 60),
    ]
    restored = JudgeHistory.from_json(history.to_json())
    assert restored == history
    v2 = judge_round(new_base, subs, val_data=val, spec=spec, max_bytes=MAX, history=restored)
    assert v2["0xr1"].reason is Reason.REPLAY and "byte-identical" in v2["0xr1"].detail
    assert (
        v2["0xr2"].reason is Reason.REPLAY and "repeats one accepted 1 round" in v2["0xr2"].detail
    )
    assert v2["0xr3"].reason is Reason.REPLAY and "global model of a round" in v2["0xr3"].detail
    assert all(v2[c].accepted for c in fresh)
    # without the history nothing is a replay
    plain = judge_round(new_base, subs, val_data=val, spec=spec, max_bytes=MAX)
    assert plain["0xr2"].reason is not Reason.REPLAY


def test_history_keeps_a_bounded_window_and_the_best_loss():
    history = JudgeHistory(salt=1)
    for k in range(5):
        history.record(RoundPrint(base_digest=f"{k:064x}"), base_loss=1.0 / (k + 1), keep=3)
    assert [r.base_digest[-1] for r in history.rounds] == ["2", "3", "4"]
    assert history.best_loss == pytest.approx(0.2)
    history.record(RoundPrint(base_digest="f" * 64), base_loss=math.nan, keep=3)
    assert history.best_loss == pytest.approx(0.2)
    assert len(history.earlier("f" * 64)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        '{"version": 2}',
        '{"version": 1, "salt": -1, "best_loss": null, "rounds": []}',
        '{"version": 1, "salt": 1, "best_loss": "x", "rounds": []}',
        '{"version": 1, "salt": 1, "best_loss": null, "rounds": [{"base": "a", "digests": ["b"], '
        '"sketches": [], "median_norm": 1.0}]}',
        "not json",
    ],
)
def test_history_refuses_bad_json(text):
    with pytest.raises(BadInputError, match="judge history is not valid"):
        JudgeHistory.from_json(text)


def test_a_poisoned_base_does_not_loosen_the_reference(world):
    spec, base, val, iid, _ = world
    history = JudgeHistory(salt=3)
    judge(world, subs_of(iid), history=history)
    best = history.best_loss
    assert best is not None
    poisoned = apply_delta(base, state_delta(base, iid["0x01"].state), scale=-8.0)
    fresh = {
        f"0x{i + 41:02x}": train(spec, poisoned, blobs(60, 80 + i), epochs=3, seed=i, threads=1)
        for i in range(4)
    }
    v = judge_round(
        poisoned, subs_of(fresh), val_data=val, spec=spec, max_bytes=MAX, history=history
    )
    some = next(iter(v.values()))
    assert some.metrics["base_loss"] > best
    assert some.metrics["ref_loss"] == best


def test_a_free_rider_alone_is_judged_against_the_last_round(world):
    _, base, _, iid, _ = world
    history = JudgeHistory(salt=9)
    judge(world, subs_of(iid), history=history)
    spec, _, val, _, _ = world
    new_base = apply_delta(base, state_delta(base, iid["0x01"].state), scale=0.5)
    gen = torch.Generator().manual_seed(2)
    free = {k: v + 1e-6 * torch.randn(v.shape, generator=gen) for k, v in new_base.items()}
    v = judge_round(
        new_base,
        [Submission("0xf1", encode_state(free), 60)],
        val_data=val,
        spec=spec,
        max_bytes=MAX,
        history=history,
    )
    assert v["0xf1"].reason is Reason.NO_IMPROVEMENT


def test_short_update_that_improves_nothing_is_a_free_rider():
    # hand-made losses: 0xc moves the model ~3% of the median and improves no class
    # (a scaled copy of another update would be a DUPLICATE: cosine 1)
    base = {"w": torch.zeros(2)}
    states = {"0xa": [1.0, 0.0], "0xb": [0.0, 1.0], "0xc": [0.03, -0.015], "0xd": [1.0, 1.0]}
    table = {
        (0.0, 0.0): (1.0, 1.0),
        (1.0, 0.0): (0.5, 1.0),
        (0.0, 1.0): (1.0, 0.5),
        (0.1, 0.0): (1.0, 1.0),
        (1.0, 1.0): (0.6, 0.6),
    }

    def evaluate(state):
        w = state["w"]
        key = (round(float(w[0]), 6), round(float(w[1]), 6))
        nearest = min(table, key=lambda k: (k[0] - key[0]) ** 2 + (k[1] - key[1]) ** 2)
        return GroupLosses(table[nearest], (10, 10))

    subs = [Submission(c, encode_state({"w": torch.tensor(s)}), 10) for c, s in states.items()]
    v = judge_round(base, subs, evaluate_fn=evaluate, max_bytes=MAX)
    assert v["0xc"].reason is Reason.NO_IMPROVEMENT and "short" in v["0xc"].detail
    assert all(v[c].accepted for c in ("0xa", "0xb", "0xd"))
    lenient = judge_round(
        base,
        subs,
        evaluate_fn=evaluate,
        max_bytes=MAX,
        policy=VerdictPolicy(min_improvement_bps=0),
    )
    assert lenient["0xc"].accepted
    # steps of 5% and more are never judged by their loss (honest ones go down to 9%)
    longer = judge_round(
        base, subs, evaluate_fn=evaluate, max_bytes=MAX, policy=VerdictPolicy(short_step=0.02)
    )
    assert longer["0xc"].accepted


def test_misuse_raises(world):
    spec, base, val, iid, _ = world
    subs = subs_of(iid)
    with pytest.raises(BadInputError, match="needs evaluate_fn"):
        judge_round(base, subs, max_bytes=MAX)
    with pytest.raises(BadInputError, match="not both"):
        judge_round(
            base,
            subs,
            evaluate_fn=lambda s: GroupLosses((1.0,), (1,)),
            val_data=val,
            spec=spec,
            max_bytes=MAX,
        )
    with pytest.raises(BadInputError, match="submitted twice"):
        judge(world, [subs[0], Submission(subs[0].client_id.upper(), b"", 1)])
    with pytest.raises(BadInputError, match="max_bytes"):
        judge_round(base, subs, val_data=val, spec=spec, max_bytes=0)
    with pytest.raises(BadInputError, match="must return GroupLosses"):
        judge_round(base, subs, evaluate_fn=lambda s: 1.0, max_bytes=MAX)  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_improvement_bps": 10_001}, "min_improvement_bps <= 10000"),
        ({"sample_clip_bps": 5_000}, "sample_clip_bps >= 10000"),
        ({"max_samples": -1}, "max_samples must be an integer >= 0"),
        ({"harm_factor": math.inf}, "harm_factor must be a number >= 0"),
        ({"duplicate_cosine": 1.5}, r"duplicate_cosine must be in \(0, 1\]"),
        ({"sketch_dim": 0}, "sketch_dim must be at least 1"),
    ],
)
def test_policy_validation(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        VerdictPolicy(**kwargs)


def test_majority_and_unavailable():
    ok = Verdict("0xa", Reason.ACCEPTED, "ok")
    bad = Verdict("0xa", Reason.HARMFUL, "bad")
    assert majority_accepts([{"0xa": ok}, {"0xa": ok}, {"0xa": bad}]) == {"0xa": True}
    assert majority_accepts([{"0xa": ok}, {"0xa": bad}]) == {"0xa": False}  # a tie is no majority
    assert majority_accepts([{"0xa": ok}, {"0xa": bad}], weights=[3, 2]) == {"0xa": True}
    assert majority_accepts([{"0xa": ok}, {}, {"0xa": bad}], weights=[1, 5, 2]) == {"0xa": False}
    with pytest.raises(BadInputError, match="2 committee members but 1 weights"):
        majority_accepts([{}, {}], weights=[1])
    gone = unavailable("0xb", "timeout after 30 s")
    assert gone.reason is Reason.UNAVAILABLE and "timeout" in gone.detail and not gone.accepted


def test_evaluator_reports_per_class_mean_loss(world):
    spec, base, val, _, _ = world
    losses = make_evaluator(spec, val)(base)
    assert losses.counts == (30, 30, 30)
    model = spec.build(0)
    model.load_state_dict(base)
    with torch.no_grad():
        per = torch.nn.functional.cross_entropy(model(val[0]), val[1], reduction="none")
    for c in range(CLASSES):
        assert losses.losses[c] == pytest.approx(float(per[val[1] == c].mean()), rel=1e-5)
    assert losses.mean == pytest.approx(float(per.mean()), rel=1e-5)
    with pytest.raises(BadInputError, match="one count per group"):
        GroupLosses((1.0,), (1, 2))
    with pytest.raises(BadInputError, match="positive"):
        GroupLosses((1.0,), (0,))


def test_delta_stats_match_direct_computation():
    gen = torch.Generator().manual_seed(0)
    numel = CHUNK + 77
    base = {"a": torch.randn(numel, generator=gen), "n": torch.tensor(3)}
    states = [
        {"a": base["a"] + torch.randn(numel, generator=gen), "n": torch.tensor(i)} for i in range(3)
    ]
    states.append(copy.deepcopy(states[0]))
    stats = delta_stats(base, states, salt=5, sketch_dim=16)
    deltas = [(s["a"].double() - base["a"].double()) for s in states]
    for i, d in enumerate(deltas):
        assert stats.norms[i] == pytest.approx(float(d.norm()), rel=1e-12)
        for j, e in enumerate(deltas):
            assert stats.gram[i][j] == pytest.approx(float(d @ e), rel=1e-9, abs=1e-6)
    assert stats.cosine(0, 3) == pytest.approx(1.0)
    assert stats.sketches[0] == stats.sketches[3]
    assert sketch_cosine(stats.sketches[0], stats.sketches[3]) == pytest.approx(1.0)
    assert abs(sketch_cosine(stats.sketches[0], stats.sketches[1])) < 0.8
    other_salt = delta_stats(base, states, salt=6, sketch_dim=16, gram=False)
    assert other_salt.norms == stats.norms and other_salt.gram == []
    assert other_salt.sketches[0] != stats.sketches[0]


def test_leave_one_out_means_are_exact():
    from milon_app.federation.contribution import LeaveOneOut

    base = {"w": torch.tensor([1.0, 1.0]), "n": torch.tensor(7)}
    states = [
        {"w": torch.tensor([2.0, 1.0]), "n": torch.tensor(1)},
        {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(2)},
        {"w": torch.tensor([5.0, 1.0]), "n": torch.tensor(3)},
    ]
    seen = []

    def evaluate(state):
        seen.append((state["w"].tolist(), int(state["n"])))
        return GroupLosses((float(state["w"].sum()),), (1,))

    full, without = LeaveOneOut(base, states, [1.0, 1.0, 0.5]).contributions(evaluate)
    # deltas (1, 0), (0, 2), (4, 0) x 0.5 = (2, 0): mean (1, 2/3)
    assert seen[0] == (pytest.approx([2.0, 1.0 + 2 / 3]), 7)
    assert seen[1][0] == pytest.approx([2.0, 2.0])  # without 0: (0,2)+(2,0) over 2
    assert seen[2][0] == pytest.approx([2.5, 1.0])  # without 1
    assert seen[3][0] == pytest.approx([1.5, 2.0])  # without 2
    assert full.mean == pytest.approx(3 + 2 / 3) and len(without) == 3
    lone, alone = LeaveOneOut(base, states[:1], [1.0]).contributions(evaluate)
    assert lone.mean == 3.0 and alone[0].mean == 2.0  # without the only update: the base
