"""Shared plumbing for the attack scenarios: one :class:`World` per test.

A World bundles the chain, the deployed suite, the typed bindings (``Milon``) and who is
who, and reads back what happened during the test (credits, validator pay, slashes) from
the receipts of its transactions, so every test can state plainly who was paid and who was
slashed.
Writes go through the ``Milon`` bindings or tests/unit/contracts/helpers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from milon_app.chain.bindings import Milon
from tests.unit.contracts.helpers import (
    ETHER,
    Update,
    bits_for,
    create_federation,
    create_job,
    events,
    join,
    make_update,
    start_round,
)

Who = LocalAccount | str


def addr(who: Who) -> str:
    return who if isinstance(who, str) else who.address


class World:
    """The chain as one test sees it; ``owner`` posts jobs, ``members`` are free accounts."""

    def __init__(self, client: Any, suite: Any, accounts: Sequence[LocalAccount]) -> None:
        self.client = client
        self.suite = suite
        self.milon = Milon(suite)
        self.accounts = list(accounts)
        self.owner = self.accounts[9]
        self.members = self.accounts[1:9]
        self.by = {a.address.lower(): a for a in self.accounts}
        # Every write of the test goes through client.transact: keep its receipts, so events
        # are decoded from them (the embedded chain's eth_getLogs re-reads every receipt).
        self.receipts: list[Any] = []
        inner = client.transact

        def transact(*args: Any, **kwargs: Any) -> Any:
            receipt = inner(*args, **kwargs)
            self.receipts.append(receipt)
            return receipt

        client.transact = transact

    def close(self) -> None:
        """Give the client its own ``transact`` back."""
        self.client.__dict__.pop("transact", None)

    # -- setup ------------------------------------------------------------------------------
    def federation(
        self,
        members: Sequence[LocalAccount],
        *,
        stakes: Sequence[int] | None = None,
        caps: Sequence[int] | None = None,
        min_stake: int = ETHER,
    ) -> int:
        fed_id = create_federation(self.client, self.suite, self.owner, min_stake=min_stake)
        stakes = stakes or [10 * ETHER] * len(members)
        caps = caps or [1] * len(members)
        for m, s, c in zip(members, stakes, caps, strict=True):
            self.join(m, fed_id, stake=s, capacity=c)
        return fed_id

    def join(
        self, who: LocalAccount, fed_id: int, *, stake: int = 10 * ETHER, capacity: int = 1
    ) -> None:
        join(self.client, self.suite, who, fed_id, stake=stake, capacity=capacity)

    def job(self, fed_id: int, **overrides: Any) -> int:
        return create_job(self.client, self.suite, self.owner, fed_id, **overrides)

    def start(self, job_id: int) -> int:
        return start_round(self.client, self.suite, job_id, self.owner)

    def trained_round(
        self, members: Sequence[LocalAccount], **job: Any
    ) -> tuple[int, int, int, dict[str, int]]:
        """A federation of ``members``, a job and its first round, every member's update
        accepted, committed and revealed. Returns (federation, job, round, stakes after)."""
        fed_id = self.federation(members)
        job_id = self.job(fed_id, **job)
        r = self.start(job_id)
        self.accept(members, job_id, r)
        self.train(members, job_id, r)
        return fed_id, job_id, r, self.stakes(fed_id, members)

    # -- a round, step by step -------------------------------------------------------------
    def round_members(self, job_id: int, r: int) -> list[str]:
        return self.milon.round_members(job_id, r)

    def committee(self, job_id: int, r: int) -> list[str]:
        return self.milon.committee(job_id, r)

    def epochs(self, job_id: int, r: int, who: Who) -> int:
        return self.milon.assignment(job_id, r, addr(who)).epochs

    def accept(self, members: Iterable[LocalAccount], job_id: int, r: int) -> None:
        for m in members:
            self.milon.accept(m, job_id, r)

    def commit(self, updates: Iterable[Update], job_id: int, r: int) -> None:
        for u in updates:
            c = self.milon.commitment(
                u.update_hash, u.num_samples, u.salt, u.member.address, job_id, r
            )
            self.milon.commit(u.member, job_id, r, c)

    def reveal(self, updates: Iterable[Update], job_id: int, r: int) -> None:
        for u in updates:
            self.milon.reveal(u.member, job_id, r, u.update_hash, u.num_samples, u.salt)

    def train(self, members: Sequence[LocalAccount], job_id: int, r: int) -> list[Update]:
        """Commit then reveal one fresh update per member (they already accepted)."""
        updates = [make_update(m, job_id, r) for m in members]
        self.commit(updates, job_id, r)
        self.reveal(updates, job_id, r)
        return updates

    def bits(self, job_id: int, r: int, accepted: Iterable[Who]) -> int:
        return bits_for(self.client, self.suite, job_id, r, [addr(a) for a in accepted])

    def vote(self, voter: LocalAccount, job_id: int, r: int, accepted: Iterable[Who]) -> Any:
        n = len(self.round_members(job_id, r))
        bits = self.bits(job_id, r, accepted)
        return self.milon.submit_verdict(voter, job_id, r, bits, bytes(n), n)

    def votes(
        self, voters: Iterable[LocalAccount], job_id: int, r: int, accepted: Sequence[Who]
    ) -> None:
        for v in voters:
            self.vote(v, job_id, r, accepted)

    def confirm(
        self, voters: Iterable[LocalAccount], job_id: int, r: int, model: bytes
    ) -> list[LocalAccount]:
        """Each voter confirms ``model`` until the round finalizes (a confirmation after that
        reverts RoundClosed); returns those that confirmed."""
        n = len(self.round_members(job_id, r))
        done = []
        for v in voters:
            if self.milon.round(job_id, r).finalized:
                break
            self.milon.confirm(v, job_id, r, model, n)
            done.append(v)
        return done

    def after(self, job_id: int, deadline: str) -> int:
        """Move chain time just past the current round's ``deadline`` (a Round field name);
        returns the round."""
        r = self.milon.job(job_id).current_round
        at = getattr(self.milon.round(job_id, r), deadline)
        self.client.increase_time(max(at - self.client.now() + 1, 0))
        return r

    def close_acceptance(self, job_id: int) -> Any:
        """A keeper (the owner) lapses the unanswered assignments once the window is over."""
        r = self.after(job_id, "accept_deadline")
        return self.milon.close_acceptance(self.owner, job_id, len(self.round_members(job_id, r)))

    def close_verdicts(self, job_id: int) -> Any:
        """A keeper (the owner) tallies once the verdict window is over."""
        r = self.after(job_id, "verdict_deadline")
        return self.milon.close_verdicts(self.owner, job_id, len(self.round_members(job_id, r)))

    def honest_round(self, job_id: int, workers: Sequence[LocalAccount], model: bytes) -> int:
        """Start a round in which ``workers`` (every round member) accept, train and are all
        accepted by the whole committee, which confirms ``model`` (the workers' seats first)."""
        r = self.start(job_id)
        in_round = {a.lower() for a in self.round_members(job_id, r)}
        assert in_round == {w.address.lower() for w in workers}, "the round has other members"
        self.accept(workers, job_id, r)
        self.train(workers, job_id, r)
        seats = [self.by[a.lower()] for a in self.committee(job_id, r)]
        self.votes(seats, job_id, r, workers)
        workers_first = sorted(seats, key=lambda s: s not in workers)
        self.confirm(workers_first, job_id, r, model)
        assert self.milon.round(job_id, r).finalized
        return r

    # -- what happened (events of this test's transactions) --------------------------------
    def logs(self, contract: Any, name: str) -> list[dict[str, Any]]:
        """Decoded ``name`` events ``contract`` emitted in this test's transactions, in order."""
        out: list[dict[str, Any]] = []
        here = contract.address.lower()
        for receipt in self.receipts:
            mine = [log for log in receipt["logs"] if log["address"].lower() == here]
            if mine:
                out += events(contract, {"logs": mine}, name)
        return out

    def _sum(self, contract: Any, name: str, key: str, **match: Any) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.logs(contract, name):
            if all(e[k] == v for k, v in match.items()):
                out[e[key].lower()] = out.get(e[key].lower(), 0) + int(e["amount"])
        return out

    def credited(self, **match: Any) -> dict[str, int]:
        """RewardCredited totals per member (lower-case address)."""
        return self._sum(self.suite.jobs, "RewardCredited", "member", **match)

    def validator_paid(self, **match: Any) -> dict[str, int]:
        return self._sum(self.suite.jobs, "ValidatorPaid", "validator", **match)

    def slashed(self, **match: Any) -> dict[str, int]:
        """Registry Slashed totals per member (jobs' and governance's slashes alike)."""
        return self._sum(self.suite.registry, "Slashed", "account", **match)

    def slash_reasons(self, who: Who) -> list[str]:
        return [
            bytes(e["reason"]).rstrip(b"\0").decode()
            for e in self.logs(self.suite.registry, "Slashed")
            if e["account"].lower() == addr(who).lower()
        ]

    def stake(self, fed_id: int, who: Who) -> int:
        return self.milon.member(fed_id, addr(who)).stake

    def claimable(self, who: Who) -> int:
        return self.milon.claimable(addr(who))

    # -- the verdict every attack test ends with -------------------------------------------
    def assert_honest_whole(
        self,
        fed_id: int,
        honest: Sequence[LocalAccount],
        stakes_before: dict[str, int],
        *,
        validators: Sequence[LocalAccount] = (),
    ) -> None:
        """Every honest member was credited for its work, holds what it can claim, lost no
        stake and appears in no Slashed event; every honest validator was paid its share."""
        credited = self.credited()
        slashed = self.slashed()
        paid = self.validator_paid()
        for m in honest:
            a = m.address.lower()
            assert credited.get(a, 0) > 0, f"honest {m.address} was not credited"
            assert self.claimable(m) >= credited[a], f"honest {m.address} cannot claim its pay"
            assert a not in slashed, f"honest {m.address} was slashed {slashed[a]}"
            assert self.stake(fed_id, m) == stakes_before[a], f"honest {m.address} lost stake"
        for v in validators:
            assert paid.get(v.address.lower(), 0) > 0, f"honest validator {v.address} unpaid"

    def stakes(self, fed_id: int, members: Iterable[LocalAccount]) -> dict[str, int]:
        return {m.address.lower(): self.stake(fed_id, m) for m in members}
