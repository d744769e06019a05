"""What the chain's events say about earlier rounds: a member's assignment, the hashes revealed.

TrainingJobs keeps one assignment record per (job, member) and overwrites it in every round
the member takes part in (a nonzero slot costs ~3k gas to rewrite, a fresh one 22k), so its
``assignment`` view answers only for the round the record holds. An earlier round's record
is what that round's events say: its epochs, how the member answered, its commitment and
revealed update. Settlement never changes an assignment, so a closed round's events are
final. The split weight is not in any event: it reads 0 here (it only mattered until the
member committed).

The contract no longer refuses an update hash revealed before in the job (a set of them cost
a fresh slot per reveal); a judge asks :class:`RevealedHashes` instead, which reads the job's
``UpdateRevealed`` events once and then only the blocks since its last read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils.abi import event_abi_to_log_topic
from web3._utils.events import get_event_data

if TYPE_CHECKING:
    from milon_app.chain.bindings import Assignment, Milon

# The events that carry (jobId, round, member) as their three indexed topics.
EVENTS = (
    "EpochsAssigned",
    "AssignmentAccepted",
    "AssignmentDeclined",
    "AssignmentLapsed",
    "UpdateCommitted",
    "UpdateRevealed",
)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def job_events(
    milon: Milon, names: tuple[str, ...], tail: list[Any], start: int, end: int
) -> list[Any]:
    """Decoded TrainingJobs events named ``names`` whose indexed topics after the first match
    ``tail`` (hex words; None: any), in chain order over blocks ``start..end``: one
    topic-filtered log query (paged as the RPC needs)."""
    jobs = milon.suite.jobs
    abis = {
        bytes(event_abi_to_log_topic(e)): e  # type: ignore[arg-type]
        for e in jobs.abi
        if e.get("type") == "event" and e.get("name") in names
    }
    topics = [["0x" + t.hex() for t in abis], *tail]
    client = milon.client

    def fetch(a: int, b: int) -> Any:
        flt = {"address": jobs.address, "topics": topics, "fromBlock": a, "toBlock": b}
        return client.w3.eth.get_logs(flt)  # type: ignore[arg-type]

    logs = client.get_logs(fetch, start, end)
    codec = client.w3.codec
    return [get_event_data(codec, abis[bytes(log["topics"][0])], log) for log in logs]


def member_events(milon: Milon, job_id: int, r: int, who: str, block: int | str) -> list[Any]:
    """The member's decoded round-``r`` events of :data:`EVENTS`, in chain order, up to
    ``block``."""
    tail = [
        "0x" + _word(job_id).hex(),
        "0x" + _word(r).hex(),
        "0x" + bytes(12).hex() + who.lower().removeprefix("0x"),
    ]
    end = milon.client.block_number() if block == "latest" else int(block)
    return job_events(milon, EVENTS, tail, milon.suite.manifest.deployed_block, end)


def rebuild(milon: Milon, job_id: int, r: int, who: str, block: int | str) -> Assignment:
    """Member ``who``'s assignment in closed round ``r`` of a job (state NONE if it had none)."""
    from milon_app.chain.bindings import Assignment, AssignmentState

    epochs, samples, state = 0, 0, AssignmentState.NONE
    commitment = update = bytes(32)
    for ev in member_events(milon, job_id, r, who, block):
        name, args = ev["event"], ev["args"]
        if name == "EpochsAssigned":  # re-splits emit the new total
            epochs = int(args["epochs"])
            state = max(state, AssignmentState.ASSIGNED)
        elif name == "AssignmentAccepted":
            state = AssignmentState.ACCEPTED
        elif name in ("AssignmentDeclined", "AssignmentLapsed"):
            declined = name == "AssignmentDeclined"
            state = AssignmentState.DECLINED if declined else AssignmentState.LAPSED
            epochs = 0  # the contract zeroes a declined or lapsed assignment's epochs
        elif name == "UpdateCommitted":
            state, commitment = AssignmentState.COMMITTED, bytes(args["commitment"])
        else:  # UpdateRevealed: the commitment is spent
            state, commitment = AssignmentState.REVEALED, bytes(32)
            update, samples = bytes(args["updateHash"]), int(args["numSamples"])
    if state is AssignmentState.NONE:
        return Assignment(0, 0, 0, state, 0, bytes(32), bytes(32))
    members = [m.lower() for m in milon.round_members(job_id, r)]
    index = members.index(who.lower())
    return Assignment(epochs, index, 0, state, samples, commitment, update)


class RevealedHashes:
    """The update hashes revealed in each job, by round, read incrementally from the events."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}  # job -> the first block not read yet
        self._seen: dict[int, dict[bytes, int]] = {}  # job -> hash -> earliest round

    def before(self, milon: Milon, job_id: int, r: int) -> set[bytes]:
        """The hashes revealed in the job's rounds before ``r``."""
        start = self._next.get(job_id, milon.suite.manifest.deployed_block)
        end = milon.client.block_number()
        seen = self._seen.setdefault(job_id, {})
        if start <= end:
            tail = ["0x" + _word(job_id).hex()]
            for ev in job_events(milon, ("UpdateRevealed",), tail, start, end):
                h, rr = bytes(ev["args"]["updateHash"]), int(ev["args"]["round"])
                seen[h] = min(seen.get(h, rr), rr)
            self._next[job_id] = end + 1
        return {h for h, rr in seen.items() if rr < r}
