"""Stealthy updates a committee must still reject: sign flips, ALIE copies, boosting.

v1: a validator rejected an update only when its loss exceeded ``1.5 x base + 0.5`` on the
validator's own data, or when it was byte-identical to another. An unboosted sign flip stays
under that bar, "a little is enough" colluders add a 1e-6 jitter to pass as distinct, and a
boosted update moved the model in proportion to its boost.
v2: each update is judged against the round (``judge_round``), a committee majority decides,
and aggregation clips every delta to the round's median norm: the flip points against the
round, the colluders are near-identical, and boosting past the median buys nothing.
"""

from __future__ import annotations

import pytest
import torch

from milon_app.compute.trainer import train
from milon_app.compute.weights import encode_state
from milon_app.federation import Submission, apply_delta, state_delta
from milon_app.federation.clipping import aggregate_accepted
from milon_app.federation.policy import Reason
from milon_app.federation.types import ClientUpdate
from milon_app.federation.verdicts import judge_round, majority_accepts
from tests.unit.federation.tiny_task import blobs, tiny_spec


@pytest.fixture(scope="module")
def round_world():
    """A base model, five honest updates and a committee of three with their own data."""
    torch.set_num_threads(1)
    spec = tiny_spec()
    base = train(spec, None, blobs(60, 99), epochs=1, seed=0, threads=1).state
    honest = {
        f"0x{i + 1:040x}": train(spec, base, blobs(60, i), epochs=3, seed=i, threads=1)
        for i in range(5)
    }
    validators = [blobs(90, 1000 + k) for k in range(3)]
    return spec, base, honest, validators


def _committee(world, extra: dict[str, bytes]) -> tuple[dict[str, bool], list[dict]]:
    spec, base, honest, validators = world
    subs = [Submission(c, r.update_bytes, r.num_samples) for c, r in sorted(honest.items())]
    subs += [Submission(c, blob, 60) for c, blob in sorted(extra.items())]
    votes = [judge_round(base, subs, val_data=v, spec=spec, max_bytes=1 << 20) for v in validators]
    return majority_accepts(votes), votes


ATTACKER = f"0x{0xA1:040x}"


@pytest.mark.parametrize("boost", [1.0, 3.0, 10.0])
def test_sign_flip_is_rejected_boosted_or_not(round_world, boost):
    _, base, honest, _ = round_world
    victim = honest[f"0x{1:040x}"].state
    flipped = encode_state(apply_delta(base, state_delta(base, victim), scale=-boost))
    accepted, votes = _committee(round_world, {ATTACKER: flipped})
    assert accepted[ATTACKER] is False, [v[ATTACKER].detail for v in votes]
    assert all(v[ATTACKER].reason is Reason.HARMFUL for v in votes if not v[ATTACKER].accepted)
    assert all(accepted[c] for c in honest), "an honest member would be slashed"


def test_alie_colluders_with_a_jitter_are_rejected_as_copies(round_world):
    _, base, honest, _ = round_world
    deltas = [state_delta(base, r.state) for r in honest.values()]
    colluders = {}
    for k, cid in enumerate((f"0x{0xC1:040x}", f"0x{0xC2:040x}")):
        gen = torch.Generator().manual_seed(k)
        crafted = {}
        for name in deltas[0]:
            stack = torch.stack([d[name] for d in deltas])
            step = stack.mean(0) - stack.std(0)  # z = 1
            noise = 1e-6 * torch.randn(step.shape, generator=gen, dtype=step.dtype)
            crafted[name] = (base[name] + step + noise).to(base[name].dtype)
        colluders[cid] = encode_state(crafted)
    accepted, votes = _committee(round_world, colluders)
    for cid in colluders:
        assert accepted[cid] is False
        assert {v[cid].reason for v in votes} == {Reason.DUPLICATE}
    assert all(accepted[c] for c in honest)


def test_boosting_past_the_rounds_median_buys_nothing(round_world):
    _, base, honest, _ = round_world
    fair = [ClientUpdate(c, r.state, r.num_samples) for c, r in sorted(honest.items())]
    own = state_delta(base, honest[f"0x{1:040x}"].state)

    def model_with(boost: float) -> dict[str, torch.Tensor]:
        liar = ClientUpdate(ATTACKER, apply_delta(base, own, scale=boost), 60)
        return aggregate_accepted(0, base, [*fair, liar], max_samples=0).state

    x3, x10, x100 = model_with(3.0), model_with(10.0), model_with(100.0)
    for name in base:
        assert torch.allclose(x3[name], x10[name], atol=1e-6)
        assert torch.allclose(x3[name], x100[name], atol=1e-6)
