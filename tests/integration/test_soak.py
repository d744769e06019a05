"""The soak run (tests/soak/soak.py) as tests: daemons on anvil, rounds with churn, memory per round.

Both are `long` (pytest --long -m long tests/integration/test_soak.py): on a
2-core machine the short one takes ~2 minutes, most of it four daemons
importing torch and joining, so it does not fit the default suite's budget.
The figures of a full run come from `python -m tests.soak.soak`.
"""

from __future__ import annotations

import pytest

from tests.soak.results import SoakResult
from tests.soak.soak import run_soak

MAX_GROWTH_MB_PER_ROUND = 2.0  # second half of a daemon life; a leak of 100 MB per 50 rounds


def _check(res: SoakResult, rounds: int) -> None:
    print(res.table())
    assert not res.failed, f"rounds that timed out instead of finalizing: {res.failed}"
    assert not res.lost, f"rounds where an honest update was not accepted: {res.lost}"
    assert not res.absent, f"rounds where a committee member did not vote: {res.absent}"
    assert all(r.seated >= 2 for r in res.rounds)  # every update judged by someone else
    assert len(res.rounds) == rounds, "the job needed extra rounds"
    assert not res.stalled, f"rounds slower than {res.stall_s} s: {res.stalled}"
    assert res.job_completed
    assert all(code == 0 for code in res.exits.values()), res.exits
    undelivered = [r.round for r in res.rounds if r.accepted + r.declined != r.members]
    assert not undelivered, f"rounds where an honest update was not delivered: {undelivered}"


@pytest.mark.long
def test_soak_short_three_rounds_one_churn(tmp_path):
    res = run_soak(rounds=3, churn_every=2, nodes=3, work=tmp_path)
    _check(res, 3)
    assert len(res.churn) == 1 and "left" in res.churn[0] and "joins" in res.churn[0]
    # The leaver delivered its rounds before it went; the stayers delivered every round.
    assert res.revealed["node0"] >= 2 and res.revealed["node1"] == res.revealed["node2"] == 3
    assert res.members_at_end == ["node1", "node2", "node3"]  # the joiner got in


@pytest.mark.long
def test_soak_fifty_rounds_with_churn_has_no_failed_round_and_bounded_memory(tmp_path):
    res = run_soak(rounds=50, churn_every=5, nodes=3, work=tmp_path)
    _check(res, 50)
    assert len(res.churn) == 9
    assert any("comes back" in c for c in res.churn) and any("joins" in c for c in res.churn)
    # Everyone who ever ran delivered work: joiners and comebacks really took part.
    assert len(res.members_at_end) == 3
    assert all(n > 0 for n in res.revealed.values()), res.revealed
    for life in res.lives:
        growth = life.growth(second_half=True)
        if growth is not None and len(life.samples) >= 6:
            assert growth < MAX_GROWTH_MB_PER_ROUND, f"{life.node}: {growth:+.2f} MB/round"
