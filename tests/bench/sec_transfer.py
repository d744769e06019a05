"""Section 3, transfer: libp2p blob throughput vs raw TCP in the same run, fan-out to 8 peers.

Wraps ``bench_transfer.py``: every peer is its own process
(``milon_app.p2p.peer_process``, Noise + Yamux on 127.0.0.1) and every blob is
sha256-checked into the receiver's store; the raw TCP side also hashes what it
receives, so both sides do the same work apart from the protocol.
"""

from __future__ import annotations

from suite import BenchContext, SectionResult


def run(ctx: BenchContext) -> SectionResult:
    from bench_transfer import Peer, fan_out, gossip, point_to_point
    from sectools import bar_plot, machine_footer, table

    mb, fanout, gpeers, gmsgs = (2, 1, 2, 2) if ctx.quick else (50, 8, 5, 10)
    peers: list[Peer] = []
    try:
        provider, digest, p2p = point_to_point(ctx.work_dir, mb, peers)
        fo = fan_out(ctx.work_dir, provider, digest, mb, fanout, peers)
        g = gossip(ctx.work_dir, provider, gpeers, gmsgs, peers)
    finally:
        for p in peers:
            p.stop()
    plot = bar_plot(
        ctx.out_dir / "transfer_throughput.png", f"{mb} MB blob over loopback, two processes",
        "MB/s", {"raw TCP": p2p["raw_mbps"], "libp2p blob": p2p["p2p_mbps"],
                 f"libp2p fan-out x{fanout} (aggregate)": fo["aggregate_mbps"]},
        footer=machine_footer(),
    )
    rows = [
        ["raw TCP (send, receive, sha256)", f"{p2p['raw_s']:.3f}", f"{p2p['raw_mbps']:,.1f}", "1"],
        ["libp2p /milon/blob/1.0.0 (Noise, Yamux, sha256-checked)", f"{p2p['p2p_s']:.3f}",
         f"{p2p['p2p_mbps']:,.1f}", f"**{p2p['ratio']:.3f}**"],
        [f"libp2p fan-out: 1 provider → {fanout} fetchers at once", f"{fo['wall_s']:.3f}",
         f"{fo['aggregate_mbps']:,.1f} aggregate", f"{fo['aggregate_mbps'] / p2p['raw_mbps']:.3f}"],
    ]
    gline = (f"Gossip (control messages only) among {g['peers']} processes: {g['delivered']}/"
             f"{g['expected']} delivered, median {g['median_ms']:.1f} ms, max {g['max_ms']:.1f} ms."
             if g["median_ms"] is not None else
             f"Gossip among {g['peers']} processes: none of {g['expected']} messages arrived.")
    md = "\n\n".join([
        f"One {mb} MB blob between two processes on 127.0.0.1, then the same blob from one provider "
        f"to {fanout} fetcher processes at once (each fetcher {fo['min_s']:.2f} to {fo['max_s']:.2f} s). "
        "*vs raw TCP* = throughput / raw TCP throughput measured in the same run.",
        table(["transfer", "seconds", "MB/s", "vs raw TCP"], rows, "lrrr"),
        gline,
        f"![transfer throughput](benchmarks/{plot.name})",
    ])
    return SectionResult(
        key="transfer", title="Transfer",
        command=".venv/bin/python tests/bench/report.py --only transfer"
        + (" --quick" if ctx.quick else "")
        + f"  (or tests/bench/bench_transfer.py --mb {mb} --fanout {fanout})",
        markdown=md, data={"point_to_point": p2p, "fan_out": fo, "gossip": g},
        headline=[f"libp2p blob {p2p['p2p_mbps']:,.0f} MB/s = {p2p['ratio']:.2f}x raw TCP "
                  f"({mb} MB, loopback); fan-out to {fanout} peers {fo['aggregate_mbps']:,.0f} MB/s "
                  "aggregate"],
        plots=[plot], device="cpu (loopback, one process per peer)",
    )
