"""The simulation's shared judging gives each committee member what it would compute alone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from milon_app.compute.model_spec import tabular_mlp
from milon_app.federation.clipping import aggregate_accepted
from milon_app.federation.evaluator import make_evaluator
from milon_app.federation.types import ClientUpdate
from milon_app.sim.shared import SharedJudging, state_digest

SPEC = tabular_mlp(64, 10)


def _states(k: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    base = SPEC.build(0).state_dict()
    return [
        {n: t + 0.01 * torch.randn(t.shape, generator=g) for n, t in base.items()} for _ in range(k)
    ]


def _val(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(50, 64, generator=g), torch.randint(0, 10, (50,), generator=g)


class Lazy(Mapping[str, torch.Tensor]):
    """A state computed on access, like the leave-one-out means the judge evaluates."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state, self.reads = state, 0

    def __getitem__(self, name: str) -> torch.Tensor:
        self.reads += 1
        return self.state[name] * 1.0

    def __iter__(self) -> Iterator[str]:
        return iter(self.state)

    def __len__(self) -> int:
        return len(self.state)


def test_losses_equal_each_members_own_and_are_computed_once_per_input() -> None:
    shared, states, val = SharedJudging(), _states(3), _val(1)
    own = make_evaluator(SPEC, val)
    judges = [shared.evaluators(SPEC, val) for _ in range(4)]  # four committee members
    for judge in judges:
        for s in states:
            assert judge(s) == own(s)
        assert judge(Lazy(states[0])) == own(states[0])
    assert shared.computed == 3 and shared.reused == 4 * 4 - 3
    other = shared.evaluators(SPEC, _val(2))  # other validation data: computed again
    assert other(states[0]) == make_evaluator(SPEC, _val(2))(states[0])
    assert shared.computed == 4
    changed = {**states[0], "0.bias": states[0]["0.bias"] + 1e-6}
    assert judges[0](changed) == own(changed) and shared.computed == 5
    shared.clear()
    judges[0](states[0])
    assert shared.computed == 6


def test_aggregates_equal_each_members_own() -> None:
    shared = SharedJudging()
    base, *updates = _states(4)
    ups = [ClientUpdate(f"0x{i:040x}", s, 10 + i) for i, s in enumerate(updates)]
    own = aggregate_accepted(0, base, ups, max_samples=0, sample_clip_bps=20_000)
    for _ in range(3):
        got = shared.aggregate(0, base, list(reversed(ups)), max_samples=0, sample_clip_bps=20_000)
        assert got.encoded == own.encoded
    assert shared.computed == 1 and shared.reused == 2
    fewer = shared.aggregate(0, base, ups[:2], max_samples=0, sample_clip_bps=20_000)
    assert (
        fewer.encoded
        == aggregate_accepted(0, base, ups[:2], max_samples=0, sample_clip_bps=20_000).encoded
    )
    samples = [ClientUpdate(u.client_id, u.state, u.num_samples + 1) for u in ups]
    shared.aggregate(0, base, samples, max_samples=0, sample_clip_bps=20_000)
    assert shared.computed == 3


def test_state_digest_sees_names_dtypes_shapes_and_values() -> None:
    t = torch.arange(6, dtype=torch.float32)
    d = state_digest({"a": t})
    assert d == state_digest({"a": t.clone()})
    assert d != state_digest({"b": t})
    assert d != state_digest({"a": t.double()})
    assert d != state_digest({"a": t.reshape(2, 3)})
    assert d != state_digest({"a": t + 1})


def test_decoded_updates_and_round_stats_equal_each_members_own() -> None:
    from milon_app.compute.weights import decode_state, encode_state
    from milon_app.federation.fingerprints import delta_stats

    shared = SharedJudging()
    base, *updates = _states(4)
    blobs = [encode_state(s) for s in updates]
    judges = [[shared.decode(b, max_bytes=10**7, require_finite=False) for b in blobs]
              for _ in range(3)]  # fmt: skip
    for got in judges:
        for state, blob in zip(got, blobs, strict=True):
            own = decode_state(blob, max_bytes=10**7, require_finite=False)
            assert state.keys() == own.keys()
            assert all(torch.equal(state[n], own[n]) for n in own)
    assert judges[0][0] is not judges[1][0]  # each member its own dict of the tensors
    assert shared.computed == 3 and shared.reused == 6
    for salt, states in zip((1, 2, 3), judges, strict=True):  # each judge its own salt
        got = shared.stats(base, states, salt=salt, sketch_dim=8)
        assert got == delta_stats(base, updates, salt=salt, sketch_dim=8)
    assert shared.computed == 4  # one Gram matrix for the three judges
    assert shared.stats(base, updates[:2], salt=1, sketch_dim=8) == delta_stats(
        base, updates[:2], salt=1, sketch_dim=8
    )  # other updates (not decoded here: keyed by their tensors): computed again
    assert shared.computed == 5


def test_a_decoded_state_is_known_by_its_blob_only_when_whole() -> None:
    from milon_app.compute.weights import encode_state

    shared = SharedJudging()
    (state,) = _states(1)
    got = shared.decode(encode_state(state), max_bytes=10**7)
    assert shared._digest(got).startswith("blob:")
    name = next(iter(got))
    part = {name: got[name]}  # a subset of its tensors, or one renamed: by their bytes
    assert shared._digest(part) == state_digest(part)
    renamed = {**{n: t for n, t in got.items() if n != name}, "other": got[name]}
    assert shared._digest(renamed) == state_digest(renamed)
