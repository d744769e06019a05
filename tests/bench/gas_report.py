"""Gas of one full training round at 4, 16 and 64 members, on the embedded chain.

    python tests/bench/gas_report.py [--sizes 4,16,64]

Prints a table: startRound, median accept/commit/reveal, the proposal that
finalizes the round, a claim, and finalization gas per member. Goals: commit
< 100k gas; finalization O(members) (per-member cost roughly flat).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak

from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite

ETHER = 10**18
STAKE = 10 * ETHER
REWARD = ETHER


def _commitment(
    update: bytes, samples: int, salt: bytes, member: str, job_id: int, r: int
) -> bytes:
    return keccak(
        encode(
            ["bytes32", "uint64", "bytes32", "address", "uint256", "uint256"],
            [update, samples, salt, member, job_id, r],
        )
    )


def measure(client: ChainClient, suite: Any, n: int) -> dict[str, float]:
    """Set up a federation of ``n`` members and play one round where everyone is accepted."""
    tx = client.transact
    funder = suite.deployer
    members = [Account.create() for _ in range(n)]
    for m in members:
        client.send_eth(funder, m.address, ETHER)
        tx(suite.token.functions.transfer(m.address, STAKE), funder)
        tx(suite.token.functions.approve(suite.registry.address, STAKE), m)
    tx(suite.registry.functions.createFederation(f"bench-{n}", keccak(text="m"), ETHER, 0), funder)
    fed = client.call(suite.registry.functions.federationCount())
    for i, m in enumerate(members):
        tx(
            suite.registry.functions.join(fed, STAKE, 1 + i % 4, f"/ip4/127.0.0.1/tcp/{4000 + i}"),
            m,
        )

    epochs = 2 * n
    params = (
        fed,
        keccak(text="spec"),
        keccak(text="data"),
        keccak(text="model-0"),
        epochs,
        epochs,
        REWARD,
        0,
        1,
        600,
    )
    tx(suite.token.functions.approve(suite.jobs.address, epochs * REWARD), funder)
    tx(suite.jobs.functions.createJob(params), funder)
    job_id = client.call(suite.jobs.functions.jobCount())

    start = tx(suite.jobs.functions.startRound(job_id), funder)["gasUsed"]
    r = client.call(suite.jobs.functions.job(job_id))[3]
    in_round = set(client.call(suite.jobs.functions.roundMembers(job_id, r)))
    active = [m for m in members if m.address in in_round]
    accept = [tx(suite.jobs.functions.accept(job_id, r), m)["gasUsed"] for m in active]
    commit, reveal = [], []
    for m in active:
        c = _commitment(keccak(text=m.address), 100, keccak(text="salt"), m.address, job_id, r)
        commit.append(tx(suite.jobs.functions.commit(job_id, r, c), m)["gasUsed"])
    for m in active:
        fn = suite.jobs.functions.reveal(
            job_id, r, keccak(text=m.address), 100, keccak(text="salt")
        )
        reveal.append(tx(fn, m)["gasUsed"])
    accepted = sorted((m.address for m in active), key=lambda a: int(a, 16))
    finalize = tx(
        suite.jobs.functions.propose(job_id, r, keccak(text="model-1"), accepted), active[0]
    )["gasUsed"]
    claim = tx(suite.jobs.functions.claim(), active[0])["gasUsed"]
    round_total = start + sum(accept) + sum(commit) + sum(reveal) + finalize
    return {
        "members": len(active),
        "startRound": start,
        "accept": statistics.median(accept),
        "commit": statistics.median(commit),
        "reveal": statistics.median(reveal),
        "finalize": finalize,
        "claim": claim,
        "finalize/member": finalize / len(active),
        "round_total": round_total,  # every transaction of the round, claims excluded
        "round/member": round_total / len(active),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="4,16,64", help="comma-separated member counts (default 4,16,64)"
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    client = ChainClient.embedded()
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    rows = [measure(client, suite, n) for n in sizes]
    cols = [
        "members",
        "startRound",
        "accept",
        "commit",
        "reveal",
        "finalize",
        "claim",
        "finalize/member",
    ]
    print(" | ".join(f"{c:>15}" for c in cols))
    print("-+-".join("-" * 15 for _ in cols))
    for row in rows:
        print(" | ".join(f"{row[c]:>15,.0f}" for c in cols))
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        marginal = (b["finalize"] - a["finalize"]) / (b["members"] - a["members"])
        start_marginal = (b["startRound"] - a["startRound"]) / (b["members"] - a["members"])
        print(
            f"\nmarginal gas per extra member: finalize {marginal:,.0f}, startRound {start_marginal:,.0f}"
        )
    worst_commit = max(r["commit"] for r in rows)
    print(
        f"commit median max {worst_commit:,.0f} gas (goal < 100,000): {'OK' if worst_commit < 100_000 else 'OVER'}"
    )
    print(f"elapsed {time.perf_counter() - t0:.1f} s on the embedded chain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
