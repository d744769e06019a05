"""Batched commits and reveals (issue 18): a member hands its commit or opening to the job
owner's node, which sends many members' entries in one transaction; the member's own
transaction stays the fallback, so a batcher that is absent, slow or censoring can delay a
member by :data:`HANDOFF_WAIT_S` at most, never cost it its reward or stake.

Member side (:class:`Handoffs`): the first time a commit (or opening) is ready the member
signs it, gossips it on :data:`BATCH_TOPIC` and keeps ticking (reporting busy, so a driver
does not move chain time past the window). It sends its own transaction when the entry has not
appeared on chain within :data:`HANDOFF_WAIT_S`, or at once when chain time is within
:data:`SELF_SEND_MARGIN_S` of the deadline that applies.

Batcher side (:class:`Batcher`, on the owner's node): entries arrive on the gossip thread and
wait in a bounded inbox; the owner's tick checks each one (a commit signed by the member it
commits for, a round member that can still commit; an opening that opens the member's
on-chain commitment), keeps one per member, and flushes when every member still expected has
one, :data:`FLUSH_AFTER_S` after the oldest entry, or :data:`FLUSH_MARGIN_S` before the
deadline. What the contract skips is logged, not retried: its member falls back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from milon_app.chain.batches import (
    Opening,
    SignedCommit,
    commit_batch,
    commit_signer,
    parse_batch_message,
    reveal_batch,
)
from milon_app.chain.bindings import AssignmentState, Milon, Round
from milon_app.node.jobs import commit_closed

if TYPE_CHECKING:
    from milon_app.node.services import RoleServices

log = logging.getLogger(__name__)
BATCH_TOPIC = "milon/batch"
# Wall-clock seconds a member waits for its handed-off entry to land before sending its own
# transaction: a batcher flushes within FLUSH_AFTER_S of an entry, and one block of a 12 s
# chain (or one gossip hop over a slow link) fits in the rest.
HANDOFF_WAIT_S = 8.0
# Chain seconds before the deadline from which a member sends its own transaction without
# handing off (or waiting further): two 12 s blocks and a resend, under the 60 s least reveal
# window the governance bounds allow.
SELF_SEND_MARGIN_S = 30
# Wall-clock seconds the batcher holds its oldest unflushed entry while waiting for the rest
# of the round: members that finish together share one transaction, and each member's
# hand-off wait (HANDOFF_WAIT_S) has time left for a block.
FLUSH_AFTER_S = 2.0
# Chain seconds before the deadline from which the batcher flushes what it holds at once:
# before the members' own margin, so their entries land before they fall back.
FLUSH_MARGIN_S = SELF_SEND_MARGIN_S + 15
MAX_BATCH = 128  # entries in one transaction (64 members' commits take about 2M gas)
MAX_INBOX = 4096  # entries waiting for the owner's tick; more are dropped (a flood)
STALE_S = 600.0  # an entry for another job of ours that long unclaimed is dropped
COMMIT, REVEAL = "commit", "reveal"

Key = tuple[int, int, str]  # (job id, round, COMMIT or REVEAL)


@dataclass(frozen=True)
class Window:
    """Where a member's commit or reveal stands: who batches it, and its deadline now."""

    batcher: str  # the job owner's address
    deadline: int  # chain time
    now: int  # chain time


def commit_deadline(rnd: Round, state: AssignmentState) -> int:
    """The deadline a commit must meet: an assigned member accepts by committing, so the
    accept window applies to it as well."""
    if state is AssignmentState.ASSIGNED:
        return min(rnd.accept_deadline, rnd.commit_deadline)
    return rnd.commit_deadline


class Handoffs:
    """A member's hand-offs to its batcher and the fallback to its own transaction."""

    def __init__(self, services: RoleServices, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self._clock = clock
        self._pending: dict[Key, float] = {}  # handed off at (clock); cleared once settled

    def enabled(self, window: Window) -> bool:
        svc = self.services
        return svc.settings().batching and window.batcher.lower() != svc.address.lower()

    @property
    def busy(self) -> bool:
        """A hand-off waits for its batcher: a driver should keep ticking, not move time."""
        now = self._clock()
        return any(now - at < HANDOFF_WAIT_S for at in self._pending.values())

    def waiting(self, key: Key, window: Window) -> bool:
        """Whether to leave ``key`` to the batcher on this tick (handed off, still in time)."""
        at = self._pending.get(key)
        if at is None:
            return False
        if window.now >= window.deadline - SELF_SEND_MARGIN_S:
            log.info("%s of job %d round %d: deadline near, sending it ourselves", *_named(key))
            return False
        if self._clock() - at >= HANDOFF_WAIT_S:
            log.info(
                "%s of job %d round %d not on chain %g s after the hand-off: sending it ourselves",
                *_named(key),
                HANDOFF_WAIT_S,
            )
            return False
        return True

    def hand_off(self, key: Key, window: Window, message: Callable[[], dict[str, Any]]) -> bool:
        """Gossip the entry ``message()`` builds, once per key; False: send it ourselves."""
        if key in self._pending or not self.enabled(window):
            return False
        if window.now >= window.deadline - SELF_SEND_MARGIN_S:
            return False
        try:
            self.services.transport.publish(BATCH_TOPIC, message())
        except Exception as exc:  # no gossip today: the member's own transaction it is
            log.info("%s of job %d round %d not handed off: %s", *_named(key), exc)
            return False
        self._pending[key] = self._clock()
        return True

    def settled(self, key: Key) -> bool:
        """Forget ``key``'s hand-off (its entry is on chain, either way); whether there was one."""
        return self._pending.pop(key, None) is not None


def _named(key: Key) -> tuple[str, int, int]:
    return ("commit" if key[2] == COMMIT else "opening", key[0], key[1])


@dataclass
class _Held:
    """A round's entries held for the next flush: one per member, with when it came."""

    members: frozenset[str]  # the round's members, lowercase
    arrived: list[tuple[SignedCommit | Opening, float]] = field(default_factory=list)
    commits: dict[str, tuple[SignedCommit, float]] = field(default_factory=dict)
    openings: dict[str, tuple[Opening, float]] = field(default_factory=dict)
    # commitments this batcher landed, by member: their openings are checked without a read
    landed: dict[str, bytes] = field(default_factory=dict)


class Batcher:
    """The owner's node collecting its jobs' entries and sending them in batches."""

    def __init__(self, services: RoleServices, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self._clock = clock
        self._lock = threading.Lock()
        self._inbox: deque[tuple[int, int, SignedCommit | Opening, float]] = deque()
        self._held: dict[tuple[int, int], _Held] = {}

    @property
    def holding(self) -> bool:
        """Entries arrived or held: the next tick has work."""
        with self._lock:
            queued = bool(self._inbox)
        return queued or any(h.arrived or h.commits or h.openings for h in self._held.values())

    @property
    def busy(self) -> bool:
        """An entry younger than FLUSH_AFTER_S waits for its flush (older ones wait for no
        one: a round the owner no longer steps must not keep a driver from moving time)."""
        since = self._clock() - FLUSH_AFTER_S
        with self._lock:
            ages = [at for *_, at in self._inbox]
        for h in self._held.values():
            ages += [at for _, at in h.arrived]
            ages += [at for _, at in h.commits.values()] + [at for _, at in h.openings.values()]
        return any(at > since for at in ages)

    # -- the gossip thread --------------------------------------------------------------------
    def on_message(self, sender: str, message: dict[str, Any]) -> None:
        """A ``milon/batch`` message: parsed and queued for the tick; bad ones are logged."""
        if not self.services.settings().batching:
            return
        try:
            job_id, r, entry = parse_batch_message(message)
        except Exception as exc:  # ValueError names what is wrong; nothing else may escape
            log.info("dropped a batch message from %s: %s", sender, exc)
            return
        with self._lock:
            if len(self._inbox) >= MAX_INBOX:
                log.info("dropped a batch message from %s: inbox full", sender)
                return
            self._inbox.append((job_id, r, entry, self._clock()))

    # -- the owner's tick ---------------------------------------------------------------------
    def step(self, job_id: int, r: int, rnd: Round, now: int, owned: Callable[[int], bool]) -> None:
        """Take in what arrived for round ``r`` of ``job_id`` (the job's current round), then
        flush it if it is due. ``owned``: whether this node owns a job; entries for another
        job of ours wait for its step, those for anyone else's are dropped."""
        self._take(job_id, r, owned)
        for key in [k for k in self._held if k[0] == job_id and k[1] != r]:
            del self._held[key]  # an earlier round's leftovers: its members sent their own
        held = self._held.get((job_id, r))
        if held is None:
            return
        self._check(job_id, r, rnd, held, now)
        # still to commit: those that accepted and have not, and the assigned ones (their
        # commit accepts)
        outstanding = rnd.assigned_count + rnd.accepted_count - rnd.committed_count
        if self._due(held.commits, outstanding, now, rnd.commit_deadline):
            entries = [e for e, _ in held.commits.values()]
            held.commits.clear()
            landed = set(self._flush(job_id, r, entries, commit_batch))
            held.landed.update(
                (e.member.lower(), e.commitment) for e in entries if e.member in landed
            )
        if not commit_closed(rnd, now):
            return
        outstanding = rnd.committed_count - rnd.revealed_count
        if self._due(held.openings, outstanding, now, rnd.reveal_deadline):
            openings = [o for o, _ in held.openings.values()]
            held.openings.clear()
            self._flush(job_id, r, openings, reveal_batch)

    def _take(self, job_id: int, r: int, owned: Callable[[int], bool]) -> None:
        with self._lock:
            arrived = list(self._inbox)
            self._inbox.clear()
        later = []
        stale = self._clock() - STALE_S
        for entry_job, entry_r, entry, at in arrived:
            if entry_job != job_id:
                if at > stale and owned(entry_job):
                    later.append((entry_job, entry_r, entry, at))
                else:
                    log.debug("batch entry for job %d: not a job of this node", entry_job)
                continue
            if entry_r != r:
                log.debug("batch entry for job %d round %d: not its round now", job_id, entry_r)
                continue
            held = self._held.get((job_id, r))
            if held is None:
                held = self._held[(job_id, r)] = _Held(members=self._members(job_id, r))
            if entry.member.lower() in held.members:
                held.arrived.append((entry, at))
            else:
                log.debug(
                    "batch entry for job %d round %d: %s is no member", job_id, r, entry.member
                )
        with self._lock:
            self._inbox.extendleft(reversed(later))

    def _members(self, job_id: int, r: int) -> frozenset[str]:
        return frozenset(m.lower() for m in self.services.milon.round_members(job_id, r))

    def _check(self, job_id: int, r: int, rnd: Round, held: _Held, now: int) -> None:
        """Check each new entry once, keeping the member's latest good one: what the contract
        would skip is dropped here, cheaper than in the batch."""
        milon = self.services.milon
        for entry, at in held.arrived:
            member = entry.member.lower()
            if isinstance(entry, SignedCommit):
                why = _commit_problem(milon, job_id, r, rnd, entry, now, held.landed)
                if not why:
                    held.commits[member] = (entry, at)
            else:
                why = _opening_problem(milon, job_id, r, entry, held.landed.get(member))
                if not why:
                    held.openings[member] = (entry, at)
            if why:
                log.debug("batch entry of %s, job %d round %d, dropped: %s", member, job_id, r, why)
        held.arrived.clear()

    def _due(self, entries: dict[str, Any], outstanding: int, now: int, deadline: int) -> bool:
        if not entries:
            return False
        oldest = min(at for _, at in entries.values())
        return (
            len(entries) >= outstanding
            or self._clock() - oldest >= FLUSH_AFTER_S
            or now >= deadline - FLUSH_MARGIN_S
        )

    def _flush(
        self, job_id: int, r: int, entries: Sequence[Any], send: Callable[..., Any]
    ) -> list[str]:
        """Send in chunks; a failure is logged and the members fall back on their own.
        Returns the members whose entries landed."""
        svc, landed = self.services, []
        for i in range(0, len(entries), MAX_BATCH):
            chunk = entries[i : i + MAX_BATCH]
            try:
                outcome = send(svc.milon, svc.account, job_id, r, chunk)
            except Exception as exc:  # revert, RPC error: the owner's tick goes on
                log.warning(
                    "batch of %d for job %d round %d failed (members send their own): %s",
                    len(chunk),
                    job_id,
                    r,
                    exc,
                )
                continue
            landed += outcome.landed
            for member, reason in outcome.skipped.items():
                log.debug("batch job %d round %d skipped %s: %s", job_id, r, member, reason)
            log.info(
                "batch for job %d round %d: %d of %d landed",
                job_id,
                r,
                len(outcome.landed),
                len(chunk),
            )
        return landed


def _commit_problem(
    milon: Milon,
    job_id: int,
    r: int,
    rnd: Round,
    entry: SignedCommit,
    now: int,
    landed: dict[str, bytes],
) -> str:
    """Why ``entry`` would be skipped, from what is known here (no chain read: at a thousand
    members a read per entry cost the owner's node ~10 s a round). The contract checks the
    rest (the member's state, the accept window) and skips, at a few thousand gas."""
    signer = commit_signer(milon, job_id, r, entry)
    if signer is None:
        return "malformed signature"
    if signer.lower() != entry.member.lower():
        return f"signed by {signer}, not by the member"
    if entry.member.lower() in landed:
        return "member is committed"
    if now > rnd.commit_deadline:
        return "window closed"
    return ""


def _opening_problem(
    milon: Milon, job_id: int, r: int, o: Opening, commitment: bytes | None
) -> str:
    """``commitment``: the member's, when this batcher landed it (else one chain read)."""
    if commitment is None:
        a = milon.assignment(job_id, r, o.member)
        if a.state is not AssignmentState.COMMITTED:
            return f"member is {a.state.name.lower()}"
        commitment = a.commitment
    opened = milon.commitment(o.update_hash, o.num_samples, o.salt, o.member, job_id, r)
    if opened != commitment:
        return "does not open the member's commitment"
    return ""
