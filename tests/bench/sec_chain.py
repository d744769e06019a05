"""Section 4, chain cost: gas per round and per member at 4/16/64 members, tx latency.

Wraps ``gas_report.py``: the same federation set-up and one protocol-v2 round in which
every member accepts, commits and reveals, every committee member votes to accept every
update (the last vote tallies) and the committee confirms the aggregate (the confirmation
reaching the threshold settles the round), played on the embedded chain (py-evm in process)
and on anvil (a separate process over JSON-RPC on 127.0.0.1). Gas must be identical on
both; latency is the wall time of each ``ChainClient.transact`` (sign, send, wait for the
receipt) over every transaction of the set-up and the round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from suite import BenchContext, SectionResult


def _timed_chain(client: Any, sizes: list[int]) -> tuple[list[dict[str, float]], list[float]]:
    """Gas rows from ``gas_report.measure`` and the latency of every transact call it made."""
    from gas_report import measure

    from milon_app.chain.deploy import deploy_suite

    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    latencies: list[float] = []
    inner: Callable[..., Any] = client.transact

    def transact(fn: Any, sender: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(fn, sender, **kw)
        finally:
            latencies.append(time.perf_counter() - t)

    client.transact = transact  # instrumentation only: the call itself is unchanged
    try:
        rows = [measure(client, suite, n) for n in sizes]
    finally:
        del client.transact
    return rows, latencies


def _lat(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {"txs": len(s), "median_ms": 1000 * statistics.median(s),
            "p90_ms": 1000 * s[int(0.9 * (len(s) - 1))], "max_ms": 1000 * s[-1],
            "tx_per_s": len(s) / sum(s)}


def run(ctx: BenchContext) -> SectionResult:
    from sectools import line_plot, machine_footer, table

    from milon_app.chain.client import ChainClient
    from milon_app.chain.devnet import Anvil

    sizes = [4] if ctx.quick else [4, 16, 64]
    t0 = time.perf_counter()
    emb_rows, emb_lat = _timed_chain(ChainClient.embedded(), sizes)
    emb_s = time.perf_counter() - t0
    with Anvil(accounts=2) as anvil:
        t0 = time.perf_counter()
        anv_rows, anv_lat = _timed_chain(ChainClient.connect(anvil.url, dev_accounts=1), sizes)
        anv_s = time.perf_counter() - t0
    gas_diff = max(abs(a["round_total"] - b["round_total"]) / a["round_total"]
                   for a, b in zip(emb_rows, anv_rows, strict=True))
    gas_rows = [
        [int(r["members"]), int(r["seats"]), f"{r['startRound']:,.0f}", f"{r['accept']:,.0f}",
         f"{r['commit']:,.0f}", f"{r['reveal']:,.0f}", f"{r['verdict']:,.0f}",
         f"{r['tally']:,.0f}", f"{r['confirm']:,.0f}", f"{r['finalize']:,.0f}",
         f"{r['claim']:,.0f}", f"{r['round_total']:,.0f}", f"**{r['round/member']:,.0f}**",
         f"{r['finalize/member']:,.0f}"]
        for r in emb_rows
    ]
    el, al = _lat(emb_lat), _lat(anv_lat)
    lat_rows = [
        [name, lat["txs"], f"{lat['median_ms']:.1f}", f"{lat['p90_ms']:.1f}", f"{lat['max_ms']:.1f}",
         f"{lat['tx_per_s']:.1f}", f"{wall:.1f}"]
        for name, lat, wall in (("embedded (py-evm, in process)", el, emb_s),
                                ("anvil (JSON-RPC, 127.0.0.1)", al, anv_s))
    ]
    xs = [r["members"] for r in emb_rows]
    plot = line_plot(
        ctx.out_dir / "chain_gas_per_member.png", "Gas of one round per member", "members",
        "gas per member",
        {"whole round / member": (xs, [r["round/member"] for r in emb_rows]),
         "finalizing confirmation / member": (xs, [r["finalize/member"] for r in emb_rows]),
         "commit (median)": (xs, [r["commit"] for r in emb_rows])},
        logx=True, footer=machine_footer(),
    )
    first, last = emb_rows[0], emb_rows[-1]
    marginal = ((last["round_total"] - first["round_total"]) / (last["members"] - first["members"])
                if len(emb_rows) > 1 else first["round/member"])
    md = "\n\n".join([
        "One round of a job in which every member accepts its epochs, commits and reveals; "
        "every committee member (the default committee: 7 seats drawn by stake, or everyone "
        "when there are no more members) "
        "votes to accept every update, the last vote tallies, and the committee confirms the "
        "aggregate until the confirmation reaching two thirds settles the round (credits, the "
        "validators' pool). *verdict* and *confirm* are the medians of the calls that do not "
        "settle; *tally* is the last verdict, *finalize* the settling confirmation. *round "
        "total* = startRound + every accept, commit, reveal, verdict and confirmation (claims "
        "are separate, one per member whenever it likes).",
        table(["members", "seats", "startRound", "accept", "commit", "reveal", "verdict",
               "tally", "confirm", "finalize", "claim", "round total", "round / member",
               "finalize / member"], gas_rows),
        f"Marginal gas per extra member: **{marginal:,.0f}** per round. The same rounds on anvil "
        "cost " + ", ".join(f"{b['round_total']:,.0f}" for b in anv_rows) + f" gas (largest "
        f"difference {100 * gas_diff:.3f}%: members are fresh random accounts, and calldata "
        "gas depends on the zero bytes in their addresses).",
        "Transaction latency: every transaction of the set-up and the rounds above "
        f"({', '.join(str(n) for n in sizes)} members; funding, approvals, joins, job, round), "
        "timed from signing to the receipt:",
        table(["chain", "transactions", "median ms", "p90 ms", "max ms", "tx/s (serial)",
               "wall s"], lat_rows),
        f"![gas per member](benchmarks/{plot.name})",
    ])
    return SectionResult(
        key="chain", title="Chain cost",
        command=".venv/bin/python tests/bench/report.py --only chain"
        + (" --quick" if ctx.quick else "") + "  (gas alone: tests/bench/gas_report.py)",
        markdown=md,
        data={"embedded": emb_rows, "anvil": anv_rows, "latency_embedded": el,
              "latency_anvil": al, "gas_difference": gas_diff, "marginal_gas_per_member": marginal},
        headline=[f"one round costs {last['round/member']:,.0f} gas per member at "
                  f"{last['members']:.0f} members ({marginal:,.0f} per extra member); tx latency "
                  f"median {el['median_ms']:.0f} ms embedded, {al['median_ms']:.0f} ms anvil"],
        plots=[plot], device="cpu (embedded py-evm and anvil on 127.0.0.1)",
    )
