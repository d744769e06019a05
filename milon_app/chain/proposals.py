"""Reading governance proposals back from the chain, for every front-end.

Queue and execute need a proposal's exact (targets, values, calldatas,
description); nobody should have to keep them, so they are read back from
the governor's ``ProposalCreated`` events. A proposal's status is returned
as plain integers: how to print an amount or a countdown is the front-end's
business (the CLI prints exact amounts, the window rounded ones).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from milon_app.chain.deploy import Suite
from milon_app.chain.events import EventCursor
from milon_app.chain.governance import Governance, ProposalCall, ProposalState
from milon_app.errors import BadInputError, NotFoundError


@dataclass(frozen=True)
class Proposal:
    id: int
    proposer: str
    call: ProposalCall
    vote_start: int  # the snapshot block: votes delegated after it do not count
    vote_end: int
    block: int  # where it was proposed


@dataclass(frozen=True)
class ProposalStatus:
    """Where a proposal stands at ``block``; amounts in wei, times in chain seconds."""

    proposal: Proposal
    block: int
    state: ProposalState
    for_: int
    against: int
    abstain: int
    quorum: int | None  # None until the snapshot block is past (the quorum is not fixed yet)
    opens_in: int  # blocks until voting opens (pending proposals; 0 otherwise)
    blocks_left: int  # blocks of voting left (active proposals; 0 otherwise)
    eta: int  # chain time from which a queued proposal may be executed (0 unless queued)

    @property
    def quorum_votes(self) -> int:
        """What counts toward the quorum: for and abstain votes (OpenZeppelin's rule)."""
        return self.for_ + self.abstain

    @property
    def quorum_fraction(self) -> float | None:
        if self.quorum is None:
            return None
        return 1.0 if self.quorum == 0 else min(1.0, self.quorum_votes / self.quorum)


class ProposalLog:
    """Every proposal since the deployment, read incrementally.

    A view refreshed every few seconds keeps one log and only reads the blocks
    mined since its last call instead of rescanning from the deployment.
    """

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self._cursor = EventCursor(
            suite.client, {"MilonGovernor": suite.governor}, suite.manifest.deployed_block
        )
        self._found: list[Proposal] = []
        self._lock = threading.Lock()

    def read(self) -> list[Proposal]:
        with self._lock:
            for ev in self._cursor.poll():
                if ev.name != "ProposalCreated":
                    continue
                a = ev.args
                call = ProposalCall(
                    [str(t) for t in a["targets"]],
                    [int(v) for v in a["values"]],
                    [bytes(c) for c in a["calldatas"]],
                    str(a["description"]),
                )
                self._found.append(
                    Proposal(
                        int(a["proposalId"]),
                        str(a["proposer"]),
                        call,
                        int(a["voteStart"]),
                        int(a["voteEnd"]),
                        ev.block,
                    )
                )
            return list(self._found)


def proposals(suite: Suite) -> list[Proposal]:
    """Every proposal since the deployment, from the governor's events."""
    return ProposalLog(suite).read()


def find_proposal(suite: Suite, text: str, found: list[Proposal] | None = None) -> Proposal:
    """The proposal with this decimal id, or the only one whose id starts with these digits."""
    found = proposals(suite) if found is None else found
    exact = [p for p in found if str(p.id) == text]
    matches = exact or [p for p in found if str(p.id).startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(f"no proposal {text} on this deployment")
    raise BadInputError(
        f"proposal id {text} is ambiguous ({len(matches)} proposals start with it): "
        "give more digits"
    )


def proposal_status(gov: Governance, p: Proposal, block: int) -> ProposalStatus:
    """State, tally, quorum and countdowns of ``p`` as seen at ``block``."""
    state = gov.state(p.id)
    tally = gov.tally(p.id)
    # the quorum of a future snapshot is not defined yet
    quorum = gov.quorum(p.vote_start) if p.vote_start < block else None
    eta = gov.eta(p.id) if state is ProposalState.QUEUED else 0
    return ProposalStatus(
        proposal=p,
        block=block,
        state=state,
        for_=tally.for_,
        against=tally.against,
        abstain=tally.abstain,
        quorum=quorum,
        opens_in=max(1, p.vote_start - block) if state is ProposalState.PENDING else 0,
        blocks_left=max(0, p.vote_end - block) if state is ProposalState.ACTIVE else 0,
        eta=eta,
    )
