"""The keeper role: unstick rounds nobody finalized, so a job never hangs forever.

``timeoutRound`` is permissionless; any node may call it once the contract's
deadline has passed. Losing the race to another keeper is not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from milon_app.chain.bindings import Round
from milon_app.chain.errors import ContractRevert
from milon_app.node import events as ev
from milon_app.node.jobs import JobContext, round_stuck

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore


class Keeper:
    def __init__(self, node: NodeCore) -> None:
        self.node = node

    def step(self, ctx: JobContext, r: int, rnd: Round, now: int) -> None:
        if not round_stuck(rnd, now):
            return
        try:
            self.node.milon.timeout_round(self.node.account, ctx.job_id)
        except ContractRevert as exc:
            if exc.error_name in ("NoRoundInProgress", "RoundNotStuck", "RoundClosed"):
                return
            raise
        self.node.publish(ev.RoundTimedOut(job_id=ctx.job_id, round=r))
