"""The demo's round driver: tick every node until each round closes, one report row a round.

On dev chains (embedded, anvil) an idle wait for a deadline is skipped by moving chain
time. A stop event ends the run at the next pass (the app quitting mid-demo).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from milon_app.demo_rounds import RoundRow, round_row
from milon_app.errors import MilonError

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore

ROUND_LIMIT_S = 600
# Nodes ticked at once: each tick mostly waits (RPC answers, peer dials and transfers), and
# separate machines would wait in parallel; one thread ticking them in turn adds the waits up.
TICK_WORKERS = 8
MAX_EXTRA_ROUNDS = 10  # rounds a keeper may open past the demo's last before it is cancelled


class DemoStopped(MilonError):
    """The demo was asked to stop (the app is closing) before it finished."""


def check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise DemoStopped("the demo was stopped before it finished")


def run_rounds(
    client: Any,
    owner: NodeCore,
    members: Sequence[NodeCore],
    job_id: int,
    rounds: int,
    on_round: Callable[[RoundRow, int], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RoundRow]:
    """Drive rounds 1..``rounds`` of ``job_id``; each row is passed to ``on_round`` too."""
    rows: list[RoundRow] = []
    everyone = [*members, owner]
    addresses: list[str] = [nd.address for nd in members]
    for r in range(1, rounds + 1):
        gas0, rt0, block0 = client.gas_used_total, time.monotonic(), client.block_number()
        cpu0 = time.process_time()
        drive_round(client, everyone, owner, job_id, r, stop)
        cpu_s = time.process_time() - cpu0
        results = {rr[0]: rr[2] for rr in owner.state.round_results(job_id)}
        row = round_row(
            owner.milon,
            job_id,
            r,
            addresses,
            results.get(r),
            client.gas_used_total - gas0,
            time.monotonic() - rt0,
            block0,
        )
        row.cpu_s = cpu_s
        rows.append(row)
        if on_round:
            on_round(row, rounds)
    return rows


def end_job(
    client: Any,
    owner: NodeCore,
    everyone: Sequence[NodeCore],
    job_id: int,
    stop: threading.Event | None = None,
) -> None:
    """After the demo's rounds the job must not stay open: epochs left over (a rejected or
    lapsed update returns its share) would keep the keepers opening rounds for nodes that
    are about to stop. A round already opened is finished first (its members are paid, not
    timed out); then the owner cancels and gets the rest of the escrow back."""
    from milon_app.chain.bindings import JobStatus
    from milon_app.chain.errors import ContractRevert

    m = owner.milon
    for _ in range(MAX_EXTRA_ROUNDS):
        job = m.job(job_id)
        if job.status is not JobStatus.OPEN:
            return
        r = job.current_round
        if r == 0 or _closed(owner, job_id, r):
            try:
                m.cancel_job(owner.account, job_id)
                return
            except ContractRevert as exc:
                if exc.error_name != "RoundInProgress":  # a keeper opened one meanwhile
                    raise
                continue
        drive_round(client, everyone, owner, job_id, r, stop)
    raise MilonError(f"job {job_id} still open after {MAX_EXTRA_ROUNDS} extra rounds")


def cancel_if_idle(owner: NodeCore, job_id: int) -> bool:
    """On a stop mid-demo: cancel the job when no round is in progress (a round in progress
    is left to time out; its members' work is judged as usual). Returns whether it ended."""
    from milon_app.chain.bindings import JobStatus
    from milon_app.chain.errors import ContractRevert

    m = owner.milon
    if m.job(job_id).status is not JobStatus.OPEN:
        return True
    try:
        m.cancel_job(owner.account, job_id)
    except ContractRevert:
        return False
    return True


def drive_round(
    client: Any,
    everyone: Sequence[NodeCore],
    owner: NodeCore,
    job_id: int,
    r: int,
    stop: threading.Event | None = None,
) -> None:
    """Tick every node until round ``r`` closes; on dev chains, skip idle waits by moving time."""
    deadline = time.monotonic() + ROUND_LIMIT_S
    with ThreadPoolExecutor(min(TICK_WORKERS, len(everyone)), "milon-demo-tick") as pool:
        while time.monotonic() < deadline:
            check_stop(stop)
            block0 = client.block_number()
            busy = any(list(pool.map(lambda nd: nd.tick(), everyone)))  # a failed tick raises
            if _closed(owner, job_id, r):
                owner.tick()  # the owner records the round's accuracy and opens the next
                return
            if busy:
                time.sleep(0.01)
            elif client.block_number() == block0:  # nobody could act: wait for a deadline
                if client.is_dev:
                    client.increase_time(60)
                elif stop is not None:
                    stop.wait(1.0)
                else:
                    time.sleep(1.0)
    raise TimeoutError(f"round {r} of job {job_id} did not close within {ROUND_LIMIT_S} s")


def _closed(owner: NodeCore, job_id: int, r: int) -> bool:
    if owner.milon.job(job_id).current_round < r:
        return False
    rnd = owner.milon.round(job_id, r)
    return bool(rnd.finalized or rnd.timed_out)
