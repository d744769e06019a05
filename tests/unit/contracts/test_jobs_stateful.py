"""Random protocol-v2 histories against the real contracts, checking invariants after each step.

Members join (with stakes near the minimum, so slashes suspend them), top up, leave, withdraw
and are slashed by governance; owners create and cancel jobs; rounds are played with random
participation: accept / decline / silence (lapse at closeAcceptance), commit, honest or wrong
reveals, a replayed update, random verdict bitmaps per committee member with some abstaining,
confirmations of disagreeing model hashes, timeouts, claims and waits in between.

Checked after every successful transaction:
- tokens are conserved: the registry holds exactly the stakes; the jobs contract holds the
  open escrow plus everything claimable; each job's escrow = credited + remaining + refunded;
- nothing is paid twice: one RoundFinalized per round, one credit per member and one
  validator payment per seat in it, claims pay exactly what was credited;
- no round with accepted updates finalizes without the participation threshold (voted
  weight) and the confirmation threshold (weight confirming the final model);
- who is slashed and why: a no-show only for work it accepted and did not reveal, a rejected
  update only when the majority rejected it, a lapse only for an unanswered assignment, an
  absent validator only for a seat that did not vote; so an accepted update, a voter, or a
  contributor of a round that timed out is never slashed for its work;
- credits: exactly the accepted updates, each its epochs' reward less the validators' share;
  validators are paid only from that share and only if they voted;
- pendingWork is exactly the open assignments and committee seats (it never underflows: that
  would revert with a Panic, which no rule allows).

Set MILON_HYPOTHESIS_EXAMPLES to run more examples (and longer histories) than CI's default.
The `long` variant (pytest --long -m long) runs MILON_LONG_EXAMPLES histories of
MILON_LONG_STEPS steps each (default 100 x 60) in a dedicated job.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.logs import DISCARD

from milon_app.chain.errors import ContractRevert

from .helpers import (
    ACCEPTED,
    ASSIGNED,
    COMMITTED,
    ETHER,
    LAPSED,
    REVEALED,
    ROUND_FIELDS,
    approve,
    b32,
    balance,
    commitment,
    fund,
    governed_suite,
    h,
    job_params,
    start_round_tx,
)

EXAMPLES = int(os.environ.get("MILON_HYPOTHESIS_EXAMPLES", "6"))
STEPS = 16 if EXAMPLES <= 15 else 50
LONG_EXAMPLES = int(os.environ.get("MILON_LONG_EXAMPLES", "100"))
LONG_STEPS = int(os.environ.get("MILON_LONG_STEPS", "60"))
MIN_STAKE = ETHER
REWARD = ETHER
ROUND_ERRORS = {"WrongRound", "RoundClosed"}
OPEN_STATES = {ASSIGNED, ACCEPTED, COMMITTED, REVEALED}
REASONS = {b32(x): x for x in ("missing-update", "rejected-update", "lapsed-assignment",
                                "absent-validator")}  # fmt: skip
# Participation bit masks over a round's members: three times in four everybody does their
# part (each mask is drawn separately, so a round still has a misbehaving member often).
MOSTLY_ALL = st.one_of(st.just(31), st.just(31), st.just(31), st.integers(0, 31))
MOSTLY_NONE = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, 31))


SEEN: Counter[str] = Counter()  # what the histories reached (MILON_STATEFUL_STATS=1 prints it)


def event(what: str) -> None:
    SEEN[what] += 1


def popcount(x: int) -> int:
    return bin(x).count("1")


class JobsMachine(RuleBasedStateMachine):
    """Actors 1-5 are members/validators, actor 6 owns jobs, actor 9 is governance (a plain
    account, so a governance slash is one transaction). Chain state is reverted per example."""

    client = None
    suite = None
    accounts: list = []

    def __init__(self) -> None:
        super().__init__()
        self.snap = self.client.snapshot()
        self.s = self.suite
        self.members = self.accounts[1:6]
        self.owner = self.accounts[6]
        self.gov = self.accounts[9]
        self.params = self.client.call(self.s.jobs.functions.params())
        self.slash_bps = self.client.call(self.s.registry.functions.slashBps())
        self.feds: list[int] = []
        self.jobs: list[int] = []
        self.fed_of: dict[int, int] = {}
        self.escrow: dict[int, int] = {}
        self.credited_by_job: dict[int, int] = defaultdict(int)
        self.refunded: dict[int, int] = defaultdict(int)
        self.credited: dict[str, int] = defaultdict(int)
        self.claimed: dict[str, int] = defaultdict(int)
        self.closed: set[tuple[int, int]] = set()  # rounds finalized or timed out
        self.paid: set[tuple[int, int, str, str]] = set()  # (job, round, who, kind)
        self.salts: dict[tuple[int, int, str], tuple[bytes, bytes, int]] = {}
        self.revealed_hashes: dict[int, set[bytes]] = defaultdict(set)
        self.stakers: set[tuple[int, str]] = set()  # (fed, member) pairs that ever joined
        self.last_gov_slash: dict[tuple[int, str], int] = {}  # (fed, member) -> block
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
        self.observe(receipt)
        return receipt

    def call(self, fn):
        return self.client.call(fn)

    def current_round(self, job_id: int) -> int:
        return int(self.call(self.s.jobs.functions.job(job_id))[3])

    def round(self, job_id: int, r: int) -> dict:
        return dict(zip(ROUND_FIELDS, self.call(self.s.jobs.functions.round(job_id, r)),
                        strict=True))  # fmt: skip

    def assignment(self, job_id: int, r: int, who: str) -> tuple:
        return tuple(self.call(self.s.jobs.functions.assignment(job_id, r, who)))

    def seat(self, job_id: int, r: int, who: str) -> tuple:
        """(index, voted, confirmed, weight, verdict, confirmedHash)."""
        return tuple(self.call(self.s.jobs.functions.seat(job_id, r, who)))

    def pick(self, items: list, i: int):
        return items[i % len(items)]

    def account(self, address: str):
        return next(m for m in self.members if m.address.lower() == address.lower())

    def past(self, deadline: int) -> None:
        self.client.increase_time(max(0, deadline - self.client.now()) + 1)

    def events(self, contract, receipt, name: str) -> list[dict]:
        logs = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(x["args"]) for x in logs]

    # -------------------------------------------------------------- what each receipt says

    def observe(self, receipt) -> None:
        """Check and book everything the jobs contract paid, slashed and closed in ``receipt``."""
        jobs = self.s.jobs
        ev = {name: self.events(jobs, receipt, name) for name in (
            "RewardCredited", "ValidatorPaid", "MemberSlashed", "RoundFinalized",
            "RoundTimedOut", "JobCompleted", "JobCancelled", "Claimed", "VerdictsTallied",
            "AssignmentLapsed",
        )}  # fmt: skip
        by_jobs = [e for e in self.events(self.s.registry, receipt, "Slashed")
                   if e["by"] == jobs.address]  # fmt: skip
        assert len(by_jobs) == len(ev["MemberSlashed"])
        slashed: dict[tuple[int, int, str], set[str]] = defaultdict(set)  # (job, r, reason)
        for slash, why in zip(ev["MemberSlashed"], by_jobs, strict=True):
            assert slash["member"] == why["account"] and slash["amount"] == why["amount"] > 0
            reason = REASONS[bytes(why["reason"])]
            self.check_slash(slash["jobId"], slash["round"], slash["member"], reason)
            slashed[(slash["jobId"], slash["round"], reason)].add(slash["member"])
            event(f"slashed: {reason}")
        for t in ev["VerdictsTallied"]:
            rd = self.round(t["jobId"], t["round"])
            assert t["votedWeight"] == rd["votedWeight"]
            expected = self.tally_reference(t["jobId"], t["round"])
            assert (t["acceptedBits"], t["rejectedBits"]) == expected, "tally differs"
            assert (rd["acceptedBits"], rd["rejectedBits"]) == expected
            if t["rejectedBits"]:
                event("tallied with rejected updates")
            if rd["revealedBits"] & ~(t["acceptedBits"] | t["rejectedBits"]):
                event("tallied with undecided updates")
            if rd["revealedBits"]:  # something to judge: only with enough of the committee
                assert t["votedWeight"] * 10_000 >= rd["committeeWeight"] * self.params[9], (
                    "tallied without the participation threshold"
                )
                event("tallied")
        if self.params[14]:  # every lapse costs the lapse penalty
            for e in ev["AssignmentLapsed"]:
                assert e["member"] in slashed[(e["jobId"], e["round"], "lapsed-assignment")]
        block_ts = self.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        for e in [*ev["RoundFinalized"], *ev["RoundTimedOut"]]:
            self.check_penalties(e["jobId"], e["round"], slashed, block_ts)
        for name in ("MemberSuspended", "MemberReinstated"):
            if self.events(self.s.registry, receipt, name):
                event(name)
        if ev["ValidatorPaid"]:
            event("validators paid")
        for fin in ev["RoundFinalized"]:
            self.check_finalized(fin, ev)
        for out in ev["RoundTimedOut"]:
            event("round timed out")
            key = (out["jobId"], out["round"])
            assert key not in self.closed, f"round {key} closed twice"
            self.closed.add(key)
            assert not [e for e in ev["RewardCredited"] if e["jobId"] == out["jobId"]]
            assert not [e for e in ev["ValidatorPaid"] if e["jobId"] == out["jobId"]]
            rd = self.round(*key)
            assert rd["timedOut"] and not rd["finalized"]
        for e in ev["JobCompleted"]:
            self.refunded[e["jobId"]] += e["refund"]
        for e in ev["JobCancelled"]:
            self.refunded[e["jobId"]] += e["refund"]
        for e in ev["Claimed"]:
            owed = self.credited[e["account"]] - self.claimed[e["account"]]
            assert e["amount"] == owed > 0, "a claim paid other than what was owed"
            self.claimed[e["account"]] += e["amount"]

    def check_penalties(self, job_id: int, r: int, slashed: dict, block_ts: int) -> None:
        """Everyone a closing round owes a penalty was slashed in that transaction: no-shows,
        majority-rejected updates (finalized rounds only) and absent seats."""
        rd = self.round(job_id, r)
        fed = self.fed_of[job_id]

        def owes(who: str) -> bool:  # a penalty rounds to nothing on a stake of nothing
            return self.call(self.s.registry.functions.stakeOf(fed, who)) > 0

        members = self.call(self.s.jobs.functions.roundMembers(job_id, r))
        missing = {m for m in members if self.assignment(job_id, r, m)[3] in (ACCEPTED, COMMITTED)}
        rejected = {m for i, m in enumerate(members) if rd["rejectedBits"] >> i & 1}
        if rd["timedOut"]:
            rejected = set()  # a round that timed out slashes no contributor that revealed
        judged = rd["revealedBits"] != 0 and (rd["finalized"] or block_ts > rd["verdictDeadline"])
        seats = self.call(self.s.jobs.functions.committee(job_id, r))
        absent = {v for v in seats if judged and not self.seat(job_id, r, v)[1]}
        for reason, due in (("missing-update", missing), ("rejected-update", rejected),
                            ("absent-validator", absent)):  # fmt: skip
            due = {m for m in due if owes(m)}
            assert slashed[(job_id, r, reason)] == due, (reason, due, slashed[(job_id, r, reason)])

    def check_slash(self, job_id: int, r: int, who: str, reason: str) -> None:
        state = self.assignment(job_id, r, who)[3]
        rd = self.round(job_id, r)
        bit = 1 << self.assignment(job_id, r, who)[1]
        in_round = state != 0
        if reason == "missing-update":
            assert state in (ACCEPTED, COMMITTED), (reason, state)
        elif reason == "rejected-update":
            assert state == REVEALED and rd["finalized"] and rd["rejectedBits"] & bit, reason
        elif reason == "lapsed-assignment":
            assert state == LAPSED, (reason, state)
        else:  # absent-validator
            seat = self.seat(job_id, r, who)
            assert seat[0] > 0 and not seat[1], "a seat that voted lost the liveness penalty"
            assert rd["revealedBits"] != 0, "absent with nothing to judge"
        if in_round and rd["acceptedBits"] & bit and state == REVEALED:
            assert reason == "absent-validator", "an accepted update was slashed"

    def check_finalized(self, fin: dict, ev: dict) -> None:
        job_id, r = fin["jobId"], fin["round"]
        assert (job_id, r) not in self.closed, f"round {(job_id, r)} finalized twice"
        self.closed.add((job_id, r))
        rd = self.round(job_id, r)
        assert rd["finalized"] and rd["tallied"] and not rd["timedOut"]
        assert rd["newModelHash"] == fin["newModelHash"]
        accepted = rd["acceptedBits"]
        assert accepted & ~rd["revealedBits"] == 0 and accepted & rd["rejectedBits"] == 0
        assert fin["acceptedCount"] == popcount(accepted)
        members = self.call(self.s.jobs.functions.roundMembers(job_id, r))
        seats = self.call(self.s.jobs.functions.committee(job_id, r))
        if accepted:
            event("round finalized with accepted updates")
        else:
            event("round finalized, nothing accepted: " + (
                "nothing revealed" if not rd["revealedBits"] else
                "rejected" if rd["rejectedBits"] else "undecided"))  # fmt: skip
        if accepted:
            # Participation and confirmation thresholds, from the seats themselves.
            total = rd["committeeWeight"]
            voted = sum(self.seat(job_id, r, v)[3] for v in seats if self.seat(job_id, r, v)[1])
            assert voted == rd["votedWeight"]
            assert voted * 10_000 >= total * self.params[9], "finalized without participation"
            confirmed = sum(
                self.seat(job_id, r, v)[3] for v in seats
                if self.seat(job_id, r, v)[2] and self.seat(job_id, r, v)[5] == fin["newModelHash"]
            )  # fmt: skip
            assert confirmed * 10_000 >= total * self.params[11], "finalized unconfirmed"
        else:
            assert fin["newModelHash"] == rd["baseModelHash"]
        # Credits: exactly the accepted updates, each its epochs' reward less the cut.
        credits = [e for e in ev["RewardCredited"] if (e["jobId"], e["round"]) == (job_id, r)]
        expected = {m for i, m in enumerate(members) if accepted >> i & 1}
        assert {e["member"] for e in credits} == expected
        reward = self.call(self.s.jobs.functions.job(job_id))[1][6]
        pool = 0
        epochs = 0
        for e in credits:
            n = self.assignment(job_id, r, e["member"])[0]
            gross = n * reward
            cut = gross * self.params[12] // 10_000
            assert e["amount"] == gross - cut
            pool += cut
            epochs += n
            self.book(job_id, r, e["member"], "credit", e["amount"])
        assert fin["epochsTrained"] == epochs == rd["epochsTrained"]
        vpay = [e for e in ev["ValidatorPaid"] if (e["jobId"], e["round"]) == (job_id, r)]
        assert sum(e["amount"] for e in vpay) <= pool
        for e in vpay:
            seat = self.seat(job_id, r, e["validator"])
            assert seat[0] > 0 and seat[1], "paid a validator that did not vote"
            self.book(job_id, r, e["validator"], "validator", e["amount"])
        assert {e["validator"]: e["amount"] for e in vpay} == self.pool_reference(
            job_id, r, rd, seats, fin["newModelHash"], pool
        )

    def pool_reference(self, job_id, r, rd, seats, model, pool) -> dict[str, int]:
        """The validators' pool by the protocol: seats that voted, did not confirm another
        model, whose own work was not rejected, missing or lapsed, and that agreed with the outcome on
        at least agreementBps of the decided updates (their own left out), by weight."""
        accepted, decided_all = rd["acceptedBits"], rd["acceptedBits"] | rd["rejectedBits"]
        ok: dict[str, int] = {}
        for v in seats:
            _, voted, confirmed, weight, verdict, confirmed_hash = self.seat(job_id, r, v)
            if not voted or (confirmed and confirmed_hash != model):
                continue
            _, index, _, state, *_ = self.assignment(job_id, r, v)
            if state in (ACCEPTED, COMMITTED, LAPSED) or (
                state == REVEALED and rd["rejectedBits"] >> index & 1
            ):
                continue
            decided = decided_all & ~(1 << index) if state else decided_all
            judged = popcount(decided)
            if (judged - popcount((verdict ^ accepted) & decided)) * 10_000 >= judged * self.params[
                13
            ]:
                ok[v] = weight
        if not pool or not ok:
            return {}
        return {v: pool * w // sum(ok.values()) for v, w in ok.items()}

    def tally_reference(self, job_id: int, r: int) -> tuple[int, int]:
        """(accepted, rejected) bits by the protocol's tally: per revealed update, the seats that
        voted (its author's seat left out) must hold participationBps of the committee weight
        without that seat; then more than majorityBps of that cast weight accepts or rejects."""
        rd = self.round(job_id, r)
        members = self.call(self.s.jobs.functions.roundMembers(job_id, r))
        seats = {
            v: self.seat(job_id, r, v)
            for v in self.call(self.s.jobs.functions.committee(job_id, r))
        }
        acc = rej = 0
        for i, author in enumerate(members):
            if not rd["revealedBits"] >> i & 1:
                continue
            total, cast, yes = rd["committeeWeight"], 0, 0
            for v, (_, voted, _, weight, verdict, _) in seats.items():
                if v == author:
                    total -= weight
                    continue
                if voted:
                    cast += weight
                    yes += weight if verdict >> i & 1 else 0
            if cast == 0 or cast * 10_000 < total * self.params[9]:
                continue
            if yes * 10_000 > cast * self.params[10]:
                acc |= 1 << i
            elif (cast - yes) * 10_000 > cast * self.params[10]:
                rej |= 1 << i
        return acc, rej

    def book(self, job_id: int, r: int, who: str, kind: str, amount: int) -> None:
        key = (job_id, r, who, kind)
        assert key not in self.paid, f"paid twice: {key}"
        self.paid.add(key)
        self.credited[who] += amount
        self.credited_by_job[job_id] += amount

    # -------------------------------------------------------------- setup and the macro step

    ROUND = {
        "accept": MOSTLY_ALL,
        "silent": MOSTLY_NONE,
        "commit": MOSTLY_ALL,
        "replay": MOSTLY_NONE,  # who commits to an update this job has already seen revealed
        "reveal": MOSTLY_ALL,
        "honest": MOSTLY_ALL,
        "abstain": MOSTLY_NONE,
        "reject": MOSTLY_NONE,  # the updates the committee's majority rejects
        "dissent": st.lists(st.one_of(st.just(0), st.integers(0, 31)), min_size=5, max_size=5),
        "model": MOSTLY_NONE,
        "claim": st.booleans(),
    }

    @initialize(
        caps=st.lists(st.integers(1, 5), min_size=2, max_size=5),
        stakes=st.lists(st.integers(1, 3), min_size=5, max_size=5),
        total=st.integers(2, 8),
        per=st.integers(2, 5),
        committee=st.sampled_from([0, 3]),
        first=st.fixed_dictionaries(ROUND),
    )
    def federation_and_job(self, caps, stakes, total, per, committee, first) -> None:
        """Start from a populated federation, an open job and one round played on it, so short
        histories reach settlement."""
        self.create_federation()
        for i, cap in enumerate(caps):
            self.join(0, i, cap, stakes[i])
        self.create_job(0, total, per, committee)
        self.play_round(0, **first)

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), **ROUND)
    def play_round(self, j, accept, silent, commit, replay, reveal, honest, abstain, reject,
                   dissent, model, claim) -> None:  # fmt: skip
        """A whole round with random participation, so short histories reach settlement."""
        job_id = self.pick(self.jobs, j)
        self.start_round(j)
        r = self.current_round(job_id)
        if not r or (job_id, r) in self.closed:
            return
        members = self.call(self.s.jobs.functions.roundMembers(job_id, r))
        idx = [self.members.index(self.account(a)) for a in members]
        for i, m in enumerate(idx):
            if not silent >> i & 1:
                self.respond(j, m, bool(accept >> i & 1))
        rd = self.round(job_id, r)
        if rd["assignedCount"]:
            self.past(rd["acceptDeadline"])
            self.close_acceptance(j)
        for i, m in enumerate(idx):
            if commit >> i & 1:
                self.commit(j, m, 1 if replay >> i & 1 else 0)
        rd = self.round(job_id, r)
        if rd["committedCount"] < rd["acceptedCount"]:
            self.past(rd["commitDeadline"])
        for i, m in enumerate(idx):
            if reveal >> i & 1:
                self.reveal(j, m, bool(honest >> i & 1), False)
        seats = self.call(self.s.jobs.functions.committee(job_id, r))
        rd = self.round(job_id, r)
        if not rd["finalized"] and not rd["timedOut"]:
            if rd["revealedCount"] < rd["committedCount"]:
                self.past(rd["revealDeadline"])
            for k, v in enumerate(seats):
                if not abstain >> k & 1:
                    # Seat k accepts every revealed update but the ones the majority rejects,
                    # with its own dissent flipping some of those choices.
                    mask = ~(reject ^ dissent[k % 5])
                    self.verdict(j, self.members.index(self.account(v)), mask, False)
            rd = self.round(job_id, r)
            if not (rd["tallied"] or rd["finalized"] or rd["timedOut"]):
                self.past(rd["verdictDeadline"])
                self.close_verdicts(j)
            for k, v in enumerate(seats):
                rd = self.round(job_id, r)
                if rd["finalized"] or rd["timedOut"]:
                    break
                self.confirm(j, self.members.index(self.account(v)), model >> k & 1)
            rd = self.round(job_id, r)
            if not (rd["finalized"] or rd["timedOut"]):
                self.past(rd["confirmDeadline"])
                self.timeout(j)
        if claim:
            for who in members:
                if self.credited[who] > self.claimed[who]:
                    self.claim(self.members.index(self.account(who)))

    # -------------------------------------------------------------- federation rules

    @precondition(lambda self: len(self.feds) < 2)
    @rule()
    def create_federation(self) -> None:
        fn = self.s.registry.functions.createFederation(f"f{len(self.feds)}", h("m"), MIN_STAKE, 0)
        self.client.transact(fn, sender=self.owner)
        self.feds.append(int(self.call(self.s.registry.functions.federationCount())))

    @precondition(lambda self: self.feds)
    @rule(f=st.integers(0, 1), m=st.integers(0, 4), cap=st.integers(1, 5),
          stake=st.integers(1, 3))  # fmt: skip
    def join(self, f: int, m: int, cap: int, stake: int = 1) -> None:
        fed, who = self.pick(self.feds, f), self.members[m]
        fn = self.s.registry.functions.join(fed, stake * MIN_STAKE, cap, "peer")
        if self.attempt(fn, who, {"AlreadyMember", "LeavePending"}):
            self.stakers.add((fed, who.address))

    def leave(self, f: int, m: int) -> None:
        fed = self.pick(self.feds, f)
        self.attempt(self.s.registry.functions.requestLeave(fed), self.members[m], {"NotMember"})

    def withdraw(self, f: int, m: int) -> None:
        fed = self.pick(self.feds, f)
        allowed = {"NothingToWithdraw", "CooldownActive", "WorkPending"}
        self.attempt(self.s.registry.functions.withdrawStake(fed), self.members[m], allowed)

    def top_up(self, f: int, m: int, amount: int) -> None:
        fed, who = self.pick(self.feds, f), self.members[m]
        receipt = self.attempt(self.s.registry.functions.addStake(fed, amount), who,
                               {"NotMember", "FederationFull"})  # fmt: skip
        if receipt is not None:
            info = self.call(self.s.registry.functions.member(fed, who.address))
            minimum = self.call(self.s.registry.functions.federation(fed))[2]
            # Active iff at the minimum; otherwise suspended (the member is in the federation).
            assert info[6] == (info[0] >= minimum) and info[8] == (not info[6])

    def gov_slash(self, f: int, m: int, bps: int) -> None:
        fed, who = self.pick(self.feds, f), self.members[m]
        before = self.call(self.s.registry.functions.member(fed, who.address))
        amount = before[0] * bps // 10_000
        fn = self.s.registry.functions.slash(fed, who.address, amount, h("governance"))
        key = (fed, who.address)
        try:
            receipt = self.client.transact(fn, sender=self.gov)
        except ContractRevert as exc:
            event(f"governance slash refused: {exc.error_name}")
            if exc.error_name == "GovSlashAgain":
                # Once per member per block. The check runs against the latest block, in which
                # the previous slash of this member landed (the transaction would be mined in
                # the next one): the embedded chain's pre-flight call refuses it there.
                assert self.last_gov_slash.get(key) == self.client.block_number()
            else:
                assert exc.error_name == "GovSlashOverCap" and bps > 1_000 and amount > 0, exc
            return
        self.dirty = True
        self.observe(receipt)
        self.last_gov_slash[key] = receipt["blockNumber"]
        event("governance slash done")
        after = self.call(self.s.registry.functions.member(fed, who.address))
        assert before[0] - after[0] == amount and (bps <= 1_000 or amount == 0)
        minimum = self.call(self.s.registry.functions.federation(fed))[2]
        if before[6] and after[0] < minimum:
            assert after[8] and not after[6], "not suspended below the minimum"

    @precondition(lambda self: self.stakers)
    @rule(
        kind=st.sampled_from(["leave", "withdraw", "top_up", "gov_slash"]),
        f=st.integers(0, 1),
        m=st.integers(0, 4),
        x=st.integers(0, 2),
    )
    def membership(self, kind: str, f: int, m: int, x: int) -> None:
        """One membership action (kept as one rule so whole rounds are drawn often enough)."""
        if kind == "leave":
            self.leave(f, m)
        elif kind == "withdraw":
            self.withdraw(f, m)
        elif kind == "top_up":
            self.top_up(f, m, [1, ETHER // 2, ETHER][x])
        else:
            self.gov_slash(f, m, [500, 1_000, 1_001][x])

    # -------------------------------------------------------------- job rules

    @precondition(lambda self: self.feds and len(self.jobs) < 3)
    @rule(f=st.integers(0, 1), total=st.integers(1, 6), per=st.integers(1, 3),
          committee=st.sampled_from([0, 3]))  # fmt: skip
    def create_job(self, f: int, total: int, per: int, committee: int) -> None:
        fed = self.pick(self.feds, f)
        params = job_params(fed, totalEpochs=total, epochsPerRound=min(per, total),
                            rewardPerEpoch=REWARD, committeeSize=committee)  # fmt: skip
        self.client.transact(self.s.jobs.functions.createJob(params), sender=self.owner)
        job_id = int(self.call(self.s.jobs.functions.jobCount()))
        self.jobs.append(job_id)
        self.fed_of[job_id] = fed
        self.escrow[job_id] = total * REWARD
        self.dirty = True

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2))
    def start_round(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        try:  # with the gas floor the bindings send: the draw decides startRound's gas
            receipt = start_round_tx(self.client, self.s, job_id, self.owner)
        except ContractRevert as exc:
            assert exc.error_name in {"RoundInProgress", "TooFewMembers", "JobNotOpen"}, exc
            receipt = None
        if receipt is not None:
            self.dirty = True
            self.observe(receipt)
            r = self.current_round(job_id)
            rd = self.round(job_id, r)
            seats = self.call(self.s.jobs.functions.committee(job_id, r))
            assert 0 < rd["committeeCount"] == len(seats) == len(set(seats))
            active = self.call(self.s.registry.functions.activeMembers(self.fed_of[job_id]))
            assert set(seats) <= set(active), "a seat for an inactive member"

    def respond(self, j: int, m: int, yes: bool) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        fn = (self.s.jobs.functions.accept if yes else self.s.jobs.functions.decline)(job_id, r)
        allowed = {"NotAssigned", "AlreadyResponded", "AcceptClosed", "NotEligible"}
        self.attempt(fn, who, allowed | ROUND_ERRORS)

    def close_acceptance(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        allowed = {"AcceptanceOpen", "NothingLapsed"} | ROUND_ERRORS
        self.attempt(self.s.jobs.functions.closeAcceptance(job_id), self.owner, allowed)

    def commit(self, j: int, m: int, replay: int) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        used = sorted(self.revealed_hashes[job_id])
        fresh = h(f"u-{job_id}-{r}-{who.address}")
        update = used[0] if replay == 1 and used else fresh  # 1: an update seen before
        samples = 0 if replay == 2 else 10
        salt = h(f"salt-{job_id}-{r}-{who.address}")
        fn = self.s.jobs.functions.commit(job_id, r, commitment(update, samples, salt, who.address,
                                                                job_id, r))  # fmt: skip
        allowed = {"NotAccepted", "AlreadyCommitted", "CommitClosed", "AcceptanceOpen"}
        if self.attempt(fn, who, allowed | ROUND_ERRORS):
            self.salts[(job_id, r, who.address)] = (update, salt, samples)

    def reveal(self, j: int, m: int, honest: bool, late: bool) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        update, salt, samples = self.salts.get(
            (job_id, r, who.address), (h("unknown"), h("unknown"), 10)
        )
        if not honest:
            salt = h("wrong")
        fn = self.s.jobs.functions.reveal(job_id, r, update, samples, salt)
        allowed = {"NotCommitted", "AlreadyRevealed", "RevealNotOpen", "RevealClosed", "BadReveal",
                   "ZeroSamples"}  # fmt: skip
        seen = update in self.revealed_hashes[job_id]
        try:
            receipt = self.client.transact(fn, sender=who)
        except ContractRevert as exc:
            assert exc.error_name in allowed | ROUND_ERRORS, f"unexpected {exc}"
            return
        self.dirty = True
        self.observe(receipt)
        assert honest, "a reveal with the wrong salt was accepted"
        assert samples > 0, "a reveal of zero samples was accepted"
        if seen:  # replays are the committee's to reject (REPLAY), not the contract's
            event("replay revealed")
        self.revealed_hashes[job_id].add(update)

    def verdict(self, j: int, m: int, mask: int, stray: bool) -> None:
        """A verdict: ``mask`` of the revealed updates (negative: all but ``~mask``); ``stray``
        also marks an update that was not revealed, which the contract must refuse."""
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        revealed = self.round(job_id, r)["revealedBits"] if r else 0
        n = len(self.call(self.s.jobs.functions.roundMembers(job_id, r))) if r else 0
        bits = revealed & (mask if mask >= 0 else ((1 << 256) - 1) ^ ~mask)
        unrevealed = ((1 << n) - 1) & ~revealed
        if stray and unrevealed:
            bits |= unrevealed & -unrevealed
        fn = self.s.jobs.functions.submitVerdict(job_id, r, bits, bytes(n))
        allowed = {"NotOnCommittee", "AlreadyVoted", "VerdictNotOpen", "VerdictClosed",
                   "VerdictOnUnrevealed"}  # fmt: skip
        try:
            receipt = self.client.transact(fn, sender=who)
        except ContractRevert as exc:
            assert exc.error_name in allowed | ROUND_ERRORS, f"unexpected {exc}"
            return
        self.dirty = True
        self.observe(receipt)
        assert bits & ~revealed == 0, "a verdict on an unrevealed update was accepted"

    def close_verdicts(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        allowed = {"VerdictsOpen"} | ROUND_ERRORS
        self.attempt(self.s.jobs.functions.closeVerdicts(job_id), self.owner, allowed)

    def confirm(self, j: int, m: int, model: int) -> None:
        job_id, who = self.pick(self.jobs, j), self.members[m]
        r = self.current_round(job_id)
        fn = self.s.jobs.functions.confirm(job_id, r, h(f"model-{model}"))
        allowed = {"NotOnCommittee", "NotTallied", "AlreadyConfirmed", "ConfirmClosed"}
        self.attempt(fn, who, allowed | ROUND_ERRORS)

    def timeout(self, j: int) -> None:
        job_id = self.pick(self.jobs, j)
        fn = self.s.jobs.functions.timeoutRound(job_id)
        self.attempt(fn, self.owner, {"NoRoundInProgress", "RoundNotStuck"})

    @precondition(lambda self: self.jobs)
    @rule(
        kind=st.sampled_from(["respond", "close_acceptance", "commit", "reveal", "verdict",
                              "close_verdicts", "confirm", "timeout"]),
        j=st.integers(0, 2),
        m=st.integers(0, 4),
        x=st.integers(-32, 31),
        flag=st.booleans(),
    )  # fmt: skip
    def step(self, kind: str, j: int, m: int, x: int, flag: bool) -> None:
        """One protocol action out of order: whatever the round's state, it either succeeds
        or fails with an error that state explains."""
        if kind == "respond":
            self.respond(j, m, flag)
        elif kind == "close_acceptance":
            self.close_acceptance(j)
        elif kind == "commit":
            self.commit(j, m, x % 8)  # 1: replay an update this job has seen, 2: zero samples
        elif kind == "reveal":
            self.reveal(j, m, flag or x % 4 != 0, False)  # mostly with the right salt
        elif kind == "verdict":
            self.verdict(j, m, x, flag and x % 3 == 0)
        elif kind == "close_verdicts":
            self.close_verdicts(j)
        elif kind == "confirm":
            self.confirm(j, m, x & 1)
        else:
            self.timeout(j)

    @precondition(lambda self: self.jobs)
    @rule(j=st.integers(0, 2), really=st.integers(0, 3))
    def cancel(self, j: int, really: int) -> None:
        if really:  # cancelling ends a job's story: keep it rare
            return
        job_id = self.pick(self.jobs, j)
        self.attempt(self.s.jobs.functions.cancelJob(job_id), self.owner,
                     {"JobNotOpen", "RoundInProgress"})  # fmt: skip

    @precondition(lambda self: self.credited)
    @rule(m=st.integers(0, 4))
    def claim(self, m: int) -> None:
        who = self.members[m]
        owed = self.credited[who.address] - self.claimed[who.address]
        receipt = self.attempt(self.s.jobs.functions.claim(), who, {"NothingToClaim"})
        if receipt is None:
            assert owed == 0, "NothingToClaim while rewards were owed"

    @rule(seconds=st.sampled_from([30, 200, 400, 700, 1500]))
    def wait(self, seconds: int) -> None:
        self.client.increase_time(seconds)

    # -------------------------------------------------------------- invariants

    @invariant()
    def books_balance_and_work_is_counted(self) -> None:
        # Checked after every successful transaction (a revert or a time jump moves nothing).
        if not self.dirty:
            return
        self.dirty = False
        reg, jobs = self.s.registry, self.s.jobs
        stakes = sum(self.call(reg.functions.stakeOf(f, who)) for f, who in self.stakers)
        assert balance(self.client, self.s, reg.address) == stakes
        escrow = 0
        for j in self.jobs:
            remaining = self.call(jobs.functions.job(j))[5]
            escrow += remaining
            assert self.credited_by_job[j] + remaining + self.refunded[j] == self.escrow[j]
        owed = 0
        for who in {m.address for m in self.members}:
            claimable = self.call(jobs.functions.claimable(who))
            assert claimable == self.credited[who] - self.claimed[who]
            owed += claimable
        assert balance(self.client, self.s, jobs.address) == escrow + owed
        # pendingWork: the open assignments and committee seats of each member, per federation.
        expected: dict[tuple[int, str], int] = defaultdict(int)
        for j in self.jobs:
            r = self.current_round(j)
            if not r or (j, r) in self.closed:
                continue
            rd = self.round(j, r)
            assert not (rd["finalized"] or rd["timedOut"])
            for who in {m.address for m in self.members}:
                if self.assignment(j, r, who)[3] in OPEN_STATES:
                    expected[(self.fed_of[j], who)] += 1
                if self.seat(j, r, who)[0]:
                    expected[(self.fed_of[j], who)] += 1
        for fed, who in self.stakers:
            got = self.call(jobs.functions.pendingWork(fed, who))
            assert got == expected[(fed, who)], ("pendingWork", fed, who, got, expected)


def test_random_histories_keep_the_books(client, suite, accounts):
    # The protocol's logic is the same on both chains: anvil (the JSON-RPC path) gets half the
    # histories so the default run stays near a minute.
    examples = EXAMPLES if client.kind == "embedded" else max(1, EXAMPLES // 2)
    _run(client, suite, accounts, examples, STEPS)


@pytest.mark.long
def test_random_histories_keep_the_books_long(client, suite, accounts):
    """The same machine with many more and longer histories (pytest --long -m long)."""
    _run(client, suite, accounts, LONG_EXAMPLES, LONG_STEPS)


def _run(client, suite, accounts, examples: int, steps: int) -> None:
    # A registry and jobs contract governed by a plain account (accounts[9]), one-time funding
    # and approvals: all kept by the per-example snapshots.
    s = governed_suite(client, suite, accounts[9])
    for a in accounts[1:7]:
        fund(client, s, a, 1_000 * ETHER)
        approve(client, s, a, s.registry.address, 2**255)
        approve(client, s, a, s.jobs.address, 2**255)

    class Machine(JobsMachine):
        pass

    Machine.client, Machine.suite, Machine.accounts = client, s, list(accounts)
    SEEN.clear()
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            # Shrinking a failing history can take minutes; MILON_NO_SHRINK=1 skips it.
            phases=[
                p for p in Phase if p is not Phase.shrink or not os.environ.get("MILON_NO_SHRINK")
            ],
        ),
    )
    if os.environ.get("MILON_STATEFUL_STATS") == "1":
        print("\n".join(f"{n:6d}  {what}" for what, n in sorted(SEEN.items())))
    # The books are only tested where money moves: the histories must have closed rounds
    # (each closing pays, slashes and refunds), not merely made federations and jobs.
    closed = sum(n for what, n in SEEN.items() if what.startswith(("round finalized", "round timed")))
    assert closed > 0, f"no history closed a round: {dict(SEEN)}"
