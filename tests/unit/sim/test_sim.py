"""The simulation runs the real protocol: every member commits, reveals and is judged on chain."""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.errors import BadInputError
from milon_app.sim import driver as sim_driver
from milon_app.sim.chain import member_accounts
from milon_app.sim.federation import COHORT_MAX, cohort_sizes
from milon_app.sim.run import SimOptions, run_sim


def test_cohorts_are_equal_and_within_the_round_cap() -> None:
    assert cohort_sizes(8) == [8]
    assert cohort_sizes(256) == [256]
    assert cohort_sizes(257) == [129, 128]
    sizes = cohort_sizes(1000)
    assert sum(sizes) == 1000 and max(sizes) <= COHORT_MAX and max(sizes) - min(sizes) <= 1
    assert cohort_sizes(1000, 128) == [125] * 8  # the governed round cap as deployed
    assert cohort_sizes(600, 999) == [200] * 3  # never above the contract's bitmap limit


def test_member_accounts_are_stable_and_distinct() -> None:
    a, b = member_accounts(5, seed=1), member_accounts(5, seed=1)
    assert [x.address for x in a] == [x.address for x in b]
    assert len({x.address for x in a}) == 5
    assert member_accounts(1, seed=2)[0].address != a[0].address


def test_options_are_checked() -> None:
    with pytest.raises(BadInputError, match="--committee"):
        SimOptions(members=8, committee=1).check()
    with pytest.raises(BadInputError, match="--members"):
        SimOptions(members=1).check()


def test_every_member_commits_reveals_and_is_judged_on_chain(monkeypatch, tmp_path) -> None:
    seen: dict[str, object] = {}
    original = sim_driver.SimDriver._stats

    def spy(self, r, *args):  # the chain's view of each round, read before the run closes
        milon = self.sim.owner.milon
        for c in self.sim.cohorts:
            members = milon.round_members(c.job_id, r)
            seen[f"states{r}"] = {milon.assignment(c.job_id, r, m).state for m in members}
            committee = milon.committee(c.job_id, r)
            seen[f"voted{r}"] = all(milon.seat(c.job_id, r, v).voted for v in committee)
            seen[f"committee{r}"] = len(committee)
            rnd = milon.round(c.job_id, r)
            seen[f"judged{r}"] = bin(rnd.accepted_bits | rnd.rejected_bits).count("1")
        return original(self, r, *args)

    monkeypatch.setattr(sim_driver.SimDriver, "_stats", spy)
    report = run_sim(SimOptions(members=5, committee=3, rounds=1, workdir=tmp_path))
    (row,) = report.rounds
    assert seen["states1"] == {AssignmentState.REVEALED}
    assert seen["voted1"] is True
    assert 1 <= seen["committee1"] <= 3  # seats are drawn by stake with replacement
    assert seen["judged1"] == 5  # every update accepted or rejected by the committee's tally
    # an honest update on 32 samples can fall short of the improvement bar: most pass
    assert row["round_members"] == 5 and 3 <= row["accepted"] <= 5
    assert row["gas_per_member"] > 0 and row["accuracy"] is not None
    assert report.trained_members == 5
    assert report.peak_rss_mib > 0
