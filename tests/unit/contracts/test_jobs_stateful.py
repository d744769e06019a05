"""Random protocol histories against the real contracts, checking money invariants after each step.

Set MILON_HYPOTHESIS_EXAMPLES to run more examples (and longer histories) than CI's default.
The `long` variant (pytest --long -m long) runs MILON_LONG_EXAMPLES histories of
MILON_LONG_STEPS steps each (default 100 x 60) in a dedicated job.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3

from milon_app.chain.errors import ContractRevert

from .helpers import (
    ACCEPT_WINDOW,
    ETHER,
    REVEAL_WINDOW,
    ROUND_DURATION,
    approve,
    balance,
    commitment,
    events,
    fund,
    h,
    job_params,
)

EXAMPLES = int(os.environ.get("MILON_HYPOTHESIS_EXAMPLES", "10"))
STEPS = 20 if EXAMPLES <= 15 else 50
LONG_EXAMPLES = int(os.environ.get("MILON_LONG_EXAMPLES", "100"))
LONG_STEPS = int(os.environ.get("MILON_LONG_STEPS", "60"))
STAKE = 2 * ETHER
REWARD = ETHER
ROUND_ERRORS = {"WrongRound", "RoundClosed"}
# Participation bit masks over a round's members: half the time everybody does their part.
MOSTLY_ALL = st.one_of(st.just(15), st.integers(0, 15))


class JobsMachine(RuleBasedStateMachine):
    """Actors 1-5 are members/validators, actor 6 owns jobs. Chain state is reverted per example."""

    client = None
    suite = None
    accounts: list = []

    def __init__(self) -> None:
        super().__init__()
        self.snap = self.client.snapshot()
        self.members = self.accounts[1:6]
        self.owner = self.accounts[6]
        self.feds: list[int] = []
        self.jobs: list[int] = []
        self.escrow: dict[int, int] = {}
        self.credited_by_job: dict[int, int] = defaultdict(int)
        self.refunded: dict[int, int] = defaultdict(int)
        self.credited: dict[str, int] = defaultdict(int)
        self.claimed: dict[str, int] = defaultdict(int)
        self.took_work: dict[tuple[int, int], set[str]] = defaultdict(set)
        self.revealed: dict[tuple[int, int], set[str]] = defaultdict(set)
        self.salts: dict[tuple[int, int, str], bytes] = {}
        self.stakers: set[tuple[int, str]] = set()  # (fed, member) pairs that ever joined
        self.dirty = False  # a transaction succeeded since the last invariant check

    def teardown(self) -> None:
        self.client.revert(self.snap)

    # -------------------------------------------------------------- plumbing

    def attempt(self, fn, sender, allowed: set[str]):
        """Send; a revert must be one of the errors this action may legitimately hit."""
        try:
            receipt = self.client.transact(fn, sender=sender)
        except ContractRevert as exc:
            assert exc.error_name in allowed, f"unexpected {exc}"
            return None
        self.dirty = True
        return receipt

    def current_round(self, job_id: int) -> int:
        return int(self.client.call(self.suite.jobs.functions.job(job_id))[3])

    def pick(self, items: list, i: int):
        return items[i % len(items)]

    # -------------------------------------------------------------- setup and macro steps

    @initialize(
        caps=st.lists(st.integers(1, 5), min_size=1, max_size=4),
        total=st.integers(1, 8),
        per=st.integers(1, 4),
        quorum=st.integers(1, 2),
    )
    def federation_and_job(self, caps: list[int], total: int, per: int, quorum: int) -> None:
        """Start from a populated federation and an open job so short histories reach settlement."""
        self.create_federation()
        for i, cap in enumerate(caps):
            self.join(0, i, cap)
        self.create_job(0, total, per, quorum)

    def round_members(self, job_id: int) -> tuple[int, list[str]]:
        r = self.current_round(job_id)
        return r, list(
            self.client.call(self.suite.jobs.functions.roundMembers(job_id, r))
        ) if r else []

    def account(self, address: str):
        return next(m for m in self.members if m.address == address)

    @precondition(lambda self: self.jobs)
    @rule(
        j=st.integers(0, 2),
        accept=MOSTLY_ALL,
        commit=MOSTLY_ALL,
        reveal=MOSTLY_ALL,
        honest=MOSTLY_ALL,
        chosen=MOSTLY_ALL,
        model=st.integers(1, 2),
        late_commit=st.booleans(),
        late_reveal=st.booleans(),
        claim=st.booleans(),
    )
    def play_round(
        self,
        j: int,
        accept: int,
        commit: int,
        reveal: int,
        honest: int,
        chosen: int,
        model: int,
        late_commit: bool,
        late_reveal: bool,
        claim: bool,
    ) -> None:
        """A whole round with random participation, so short histories reach settlement."""
        job_id = self.pick(self.jobs, j)
        self.start_round(j)
        r, members = self.round_members(job_id)
        if not r:
            return
        idx = [self.members.index(self.account(a)) for a in members]
        for i, m in enumerate(idx):
            self.respond(j, m, bool(accept >> i & 1))
        for i, m in enumerate(idx):
            if commit >> i & 1:
                self.commit(j, m)
        if late_commit:
            self.wait(ACCEPT_WINDOW + ROUND_DURATION + 1)
        for i, m in enumerate(idx):
            if reveal >> i & 1:
                self.reveal(j, m, bool(honest >> i & 1))
        if late_reveal:
            self.wait(REVEAL_WINDOW + 1)
        fed = self.client.call(self.suite.jobs.functions.job(job_id))[1][0]
        validators = self.client.call(self.suite.registry.functions.activeMembers(fed))[:2]
        for v in validators:
            self.propose(j, self.members.index(self.account(v)), chosen, model)
        if claim:
            for who in members:
                if self.credited[who] > self.claimed[who]:
                    self.claim(self.members.index(self.account(who)))

    # -------------------------------------------------------------- federation rules

    @precondition(lambda self: len(self.feds) < 2)
    @rule()
    def create_federation(self) -> None:
        fn = self.suite.registry.functions.createFederation(f"f{len(self.feds)}", h("m"), ETHER, 0)
        self.client.transact(fn, sender=self.owner)
        self.feds.append(int(self.client.call(self.suite.registry.functions.federationCount())))

    @precondition(lambda self: self.feds)
    @rule(f=st.integers(0, 1), m=st.integers(0, 4), cap=st.integers(1, 5))
    def join(self, f: int, m: int, cap: int) -> None:
        fed, who = self.pick(self.feds, f), self.members[m]
        fn = self.suite.registry.functions.join(fed, STAKE, cap, "peer")
        if self.attempt(fn, who, {"AlreadyMember", "LeavePending"}):
            self.stakers.add((fed, who.address))

    @precondition(lambda self: self.stakers)
    @rule(f=st.integers(0, 1), m=st.integers(0, 4))
    def leave(self, f: int, m: int) -> None:
        fed = self.pick(self.feds, f)
        self.attempt(
            self.suite.registry.functions.requestLeave(fed), self.members[m], {"NotMember"}
        )

    @precondition(lambda self: self.stakers)
    @rule(f=st.integers(0, 1), m=st.integers(0, 4))
    def withdraw(self, f: int, m: int) -> None:
        fed = self.pick(self.feds, f)
        allowed = {"NothingToWithdraw", "CooldownActive", "WorkPending"}
        self.attempt(self.suite.registry.functions.withdrawStake(fed), self.members[m], allowed)

    # -------------------------------------------------------------- job rules

    @precondition(lambda self: self.feds and len(self.jobs) < 3)
    @rule(
        f=st.integers(0, 1),
        total=st.integers(1, 6),
        per=st.integers(1, 3),
        quorum=st.integers(1, 2),
    )
    def create_job(self, f: int, total: int, per: int, quorum: int) -> None:
        params = job_params(
            self.pick(self.feds, f),
            totalEpochs=total,
            epochsPerRound=min(per, total),
            rewardPerEpoch=REWARD,
            validatorQuorum=quorum,
        )
        self.client.transact(self.suite.jobs.functions.createJob(params), sender=self.owner)
        job_id = int(self.client.call(self.suite.jobs.functions.jobCount()))
        self.jobs.append(job_id)
        self.escrow[job_id] = total * REWARD

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2))
    def start_round(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        fn = self.suite.jobs.functions.startRound(job_id)
        self.attempt(fn, self.owner, {"RoundInProgress", "NoActiveMembers", "JobNotOpen"})

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), m=st.integers(0, 4), yes=st.booleans())
    def respond(self, j: int, m: int, yes: bool) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        fn = (self.suite.jobs.functions.accept if yes else self.suite.jobs.functions.decline)(
            job_id, r
        )
        receipt = self.attempt(
            fn, who, {"NotAssigned", "AlreadyResponded", "AcceptClosed"} | ROUND_ERRORS
        )
        if receipt is not None and yes:
            self.took_work[(job_id, r)].add(who.address)

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), m=st.integers(0, 4))
    def commit(self, j: int, m: int) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        salt = h(f"salt-{job_id}-{r}-{who.address}")
        c = commitment(h(f"u-{who.address}"), 10, salt, who.address, job_id, r)
        fn = self.suite.jobs.functions.commit(job_id, r, c)
        if self.attempt(
            fn, who, {"NotAccepted", "AlreadyCommitted", "CommitClosed"} | ROUND_ERRORS
        ):
            self.salts[(job_id, r, who.address)] = salt

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), m=st.integers(0, 4), honest=st.booleans())
    def reveal(self, j: int, m: int, honest: bool) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        salt = self.salts.get((job_id, r, who.address), h("unknown")) if honest else h("wrong")
        fn = self.suite.jobs.functions.reveal(job_id, r, h(f"u-{who.address}"), 10, salt)
        allowed = {"NotCommitted", "AlreadyRevealed", "RevealNotOpen", "RevealClosed", "BadReveal"}
        receipt = self.attempt(fn, who, allowed | ROUND_ERRORS)
        if receipt is not None:
            assert honest, "a reveal with the wrong salt was accepted"
            self.revealed[(job_id, r)].add(who.address)

    @precondition(lambda self: self.jobs)
    @rule(
        j=st.integers(0, 2), v=st.integers(0, 4), mask=st.integers(0, 31), model=st.integers(1, 2)
    )
    def propose(self, j: int, v: int, mask: int, model: int) -> None:
        job_id, validator = self.pick(self.jobs, j), self.members[v]
        r = self.current_round(job_id)
        revealed = sorted(self.revealed[(job_id, r)], key=lambda a: int(a, 16))
        chosen = [a for i, a in enumerate(revealed) if mask >> i & 1]
        base = self.client.call(self.suite.jobs.functions.job(job_id))[2]
        new_model = h(f"model-{model}") if chosen else base
        fn = self.suite.jobs.functions.propose(job_id, r, new_model, chosen)
        allowed = {
            "NotValidator",
            "AlreadyProposed",
            "ProposalNotOpen",
            "ProposalClosed",
        } | ROUND_ERRORS
        receipt = self.attempt(fn, validator, allowed)
        if receipt is None or not events(self.suite.jobs, receipt, "RoundFinalized"):
            return
        credited = {
            e["member"]: e["amount"] for e in events(self.suite.jobs, receipt, "RewardCredited")
        }
        slashed = {e["member"] for e in events(self.suite.jobs, receipt, "MemberSlashed")}
        took = self.took_work[(job_id, r)]
        # Paid exactly the accepted set, all of whom revealed; nobody else who took work is paid.
        assert set(credited) == set(chosen) <= set(revealed) <= took
        assert not slashed & set(credited) and slashed <= took - set(chosen)
        for who, amount in credited.items():
            epochs = self.client.call(self.suite.jobs.functions.assignment(job_id, r, who))[0]
            assert amount == epochs * REWARD
            self.credited[who] += amount
            self.credited_by_job[job_id] += amount
        for e in events(self.suite.jobs, receipt, "JobCompleted"):
            self.refunded[job_id] += e["refund"]

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2))
    def timeout(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        fn = self.suite.jobs.functions.timeoutRound(job_id)
        receipt = self.attempt(fn, self.owner, {"NoRoundInProgress", "RoundNotStuck"})
        if receipt is not None:
            r = self.current_round(job_id)
            slashed = {e["member"] for e in events(self.suite.jobs, receipt, "MemberSlashed")}
            assert slashed <= self.took_work[(job_id, r)] - self.revealed[(job_id, r)]

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), really=st.integers(0, 3))
    def cancel(self, j: int, really: int) -> None:
        if really:  # cancelling ends a job's story: keep it rare
            return
        job_id = self.pick(self.jobs, j)
        receipt = self.attempt(
            self.suite.jobs.functions.cancelJob(job_id),
            self.owner,
            {"JobNotOpen", "RoundInProgress"},
        )
        if receipt is not None:
            self.refunded[job_id] += events(self.suite.jobs, receipt, "JobCancelled")[0]["refund"]

    @precondition(lambda self: self.credited)
    @rule(m=st.integers(0, 4))
    def claim(self, m: int) -> None:
        who = self.members[m]
        owed = self.credited[who.address] - self.claimed[who.address]
        receipt = self.attempt(self.suite.jobs.functions.claim(), who, {"NothingToClaim"})
        if receipt is None:
            assert owed == 0, "NothingToClaim while rewards were owed"
        else:
            (ev,) = events(self.suite.jobs, receipt, "Claimed")
            assert ev["amount"] == owed > 0
            self.claimed[who.address] += ev["amount"]

    @rule(seconds=st.sampled_from([30, 200, 400, 700, 1500]))
    def wait(self, seconds: int) -> None:
        self.client.increase_time(seconds)

    # -------------------------------------------------------------- invariants

    @invariant()
    def tokens_are_conserved(self) -> None:
        # Checked after every successful transaction (a revert or a time jump moves no tokens).
        if not self.dirty:
            return
        self.dirty = False
        call = self.client.call
        reg, jobs = self.suite.registry, self.suite.jobs
        stakes = sum(call(reg.functions.stakeOf(f, who)) for f, who in self.stakers)
        assert balance(self.client, self.suite, reg.address) == stakes
        escrow = 0
        for j in self.jobs:
            remaining = call(jobs.functions.job(j))[5]
            escrow += remaining
            assert self.credited_by_job[j] + remaining + self.refunded[j] == self.escrow[j]
            assert self.credited_by_job[j] <= self.escrow[j]
        owed = 0
        for who in self.credited:
            claimable = call(jobs.functions.claimable(who))
            assert claimable == self.credited[who] - self.claimed[who]
            owed += claimable
        assert balance(self.client, self.suite, jobs.address) == escrow + owed


def test_random_histories_keep_the_books(client, suite, accounts):
    _run(client, suite, accounts, EXAMPLES, STEPS)


@pytest.mark.long
def test_random_histories_keep_the_books_long(client, suite, accounts):
    """The same machine with many more and longer histories (pytest --long -m long)."""
    _run(client, suite, accounts, LONG_EXAMPLES, LONG_STEPS)


def _run(client, suite, accounts, examples: int, steps: int) -> None:
    # One-time funding and approvals, kept by the per-example snapshots.
    for a in accounts[1:7]:
        fund(client, suite, a, 1_000 * ETHER)
        approve(client, suite, a, suite.registry.address, 2**255)
        approve(client, suite, a, suite.jobs.address, 2**255)

    class Machine(JobsMachine):
        pass

    Machine.client, Machine.suite, Machine.accounts = client, suite, list(accounts)
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert Web3.is_address(suite.jobs.address)
