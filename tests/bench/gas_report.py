"""Gas of one full protocol-v2 round at 4, 16, 64 and 256 members, on the embedded chain.

    python tests/bench/gas_report.py [--sizes 4,16,64,256] [--with-256] [--explicit-accept]
                                     [--self-send]

A size is ``members`` or ``members:seats`` (seats 0 or absent: the governed default, 7).
One round: startRound, every commit (which accepts the epochs too: a member committing within
the accept window needs no ``accept`` of its own; ``--explicit-accept`` measures the older path,
an ``accept`` and then a commit) and reveal, sent in one ``commitBatch`` (each entry signed by
its member) and one ``revealBatch`` as the nodes hand them to the job owner's batcher
(``--self-send``: each member's own ``commit`` and ``reveal``, the nodes' fallback; *commit*
and *reveal* are then per batch entry: the batch's gas over its entries), every committee member's verdict
(accepting every update; the last one tallies), confirmations of the aggregate until the
round finalizes (the last one settles: credits, the validators' pool), then one claim.
Prints a table of medians and the settling calls, the per-member totals, and checks two
goals: commit < 100k gas, and the settling calls within the gas floors that
``milon_app.chain.bindings`` sends with them (startRound's too). A size over 128
members has governance first raise max-round-members (its default is 128); 256 members fit
the embedded chain's 30M-gas block. ``--with-256`` adds a 256-member row on an embedded chain
with a 100M block gas limit (for code whose startRound does not fit a 30M block).
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

from milon_app.chain import batches
from milon_app.chain.bindings import Param, _settle_gas, _start_gas
from milon_app.chain.client import EMBEDDED, ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.chain.governance import Governance

ETHER = 10**18
STAKE = 10 * ETHER
REWARD = ETHER
BLOCK_GAS = 30_000_000  # the usual block gas limit (the embedded chain's, anvil's)
COLUMNS = [
    "members", "seats", "voters", "startRound", "accept", "commit", "reveal", "verdict", "tally",
    "confirm", "finalize", "claim", "round_total", "round/member",
]  # fmt: skip


def roomy_embedded(block_gas: int = 100_000_000) -> ChainClient:
    """An embedded chain whose blocks hold ``block_gas``: to measure what a 30M block cannot."""
    from eth_account import Account as Acct
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3

    genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": block_gas})
    tester = EthereumTester(backend=PyEVMBackend(genesis_parameters=genesis))
    w3 = Web3(EthereumTesterProvider(ethereum_tester=tester))
    accounts = [Acct.from_key(k.to_bytes()) for k in tester.backend.account_keys]
    return ChainClient(w3, kind=EMBEDDED, dev_accounts=accounts)


def raise_round_members(client: ChainClient, suite: Any, value: int) -> None:
    """Governance (the deployer holds every vote on a dev deployment) raises max-round-members."""
    gov = Governance(suite)
    gov.delegate(suite.deployer)
    client.mine(1)
    call = gov.set_parameter("max-round-members", value)
    gov.pass_proposal(suite.deployer, [suite.deployer], call)
    assert client.call(suite.jobs.functions.params())[int(Param.MAX_ROUND_MEMBERS)] == value


def _commitment(
    update: bytes, samples: int, salt: bytes, member: str, job_id: int, r: int
) -> bytes:
    return keccak(
        encode(
            ["bytes32", "uint64", "bytes32", "address", "uint256", "uint256"],
            [update, samples, salt, member, job_id, r],
        )
    )


def parse_size(text: str) -> tuple[int, int]:
    n, _, k = text.partition(":")
    return int(n), int(k or 0)


def measure(
    client: ChainClient,
    suite: Any,
    n: int,
    committee: int = 0,
    explicit_accept: bool = False,
    rounds: int = 1,
    batched: bool = True,
) -> dict[str, float]:
    """A federation of ``n`` fresh members, one job and ``rounds`` rounds in which every update
    is accepted by every committee member and the aggregate confirmed; the figures are the
    last round's (``rounds`` 2: members with a delivery record and unclaimed pay, the steady
    state). Members commit straight away (committing accepts), or accept first when
    ``explicit_accept``."""
    funder = suite.deployer

    block_gas = int(client.w3.eth.get_block("latest")["gasLimit"])
    big = block_gas - 1_000_000  # the embedded client's fixed 8M per call is too little here

    def tx(fn: Any, sender: Any) -> int:
        return int(client.transact(fn, sender, min_gas=big if n > 16 else 0)["gasUsed"])

    members = [Account.create() for _ in range(n)]
    for m in members:
        client.send_eth(funder, m.address, ETHER)
        tx(suite.token.functions.transfer(m.address, STAKE), funder)
        tx(suite.token.functions.approve(suite.registry.address, STAKE), m)
    tx(suite.registry.functions.createFederation(f"bench-{n}", keccak(text="m"), ETHER, 0), funder)
    fed = client.call(suite.registry.functions.federationCount())
    for i, m in enumerate(members):
        peer = f"/ip4/127.0.0.1/tcp/{4000 + i}"
        tx(suite.registry.functions.join(fed, STAKE, 1 + i % 4, peer), m)
    by_address = {m.address.lower(): m for m in members}

    epochs = 2 * n
    params = (
        fed, keccak(text="spec"), keccak(text="data"), keccak(text="model-0"), epochs * rounds,
        epochs, REWARD, 0, committee, 600, 0,
    )  # fmt: skip
    tx(suite.token.functions.approve(suite.jobs.address, epochs * rounds * REWARD), funder)
    tx(suite.jobs.functions.createJob(params), funder)
    job_id = client.call(suite.jobs.functions.jobCount())

    for i in range(rounds):
        row = _round(client, suite, job_id, by_address, committee, explicit_accept, tx, i, batched)
    return {
        **row,
        "seats": min(row["seats"], len(members)),
        "start_floor": _start_gas(len(members), min(len(members), int(row["seats"]))),
        "block_gas": block_gas,
    }


def _round(
    client: ChainClient,
    suite: Any,
    job_id: int,
    by_address: dict[str, Any],
    committee: int,
    explicit_accept: bool,
    tx: Any,
    i: int,
    batched: bool = True,
) -> dict[str, float]:
    """One round of the job, every update accepted; its gas figures."""
    funder = suite.deployer
    jobs = suite.jobs.functions
    start = tx(jobs.startRound(job_id), funder)
    r = client.call(jobs.job(job_id))[3]
    round_members = list(client.call(jobs.roundMembers(job_id, r)))
    active = [by_address[a.lower()] for a in round_members]
    seats = [by_address[a.lower()] for a in client.call(jobs.committee(job_id, r))]
    accept = [tx(jobs.accept(job_id, r), m) for m in active] if explicit_accept else [0]
    salt = keccak(text="salt")
    updates = {m.address: keccak(text=f"{m.address}-{i}") for m in active}
    if batched:
        commit, reveal = _batched(suite, job_id, r, active, updates, salt)
    else:
        commit = [
            tx(jobs.commit(job_id, r, _commitment(updates[m.address], 100, salt, m.address,
                                                  job_id, r)), m)
            for m in active
        ]  # fmt: skip
        reveal = [tx(jobs.reveal(job_id, r, updates[m.address], 100, salt), m) for m in active]

    p = client.call(jobs.params())
    k = min(max(committee or p[int(Param.COMMITTEE_DEFAULT)], p[int(Param.COMMITTEE_MIN)]),
            p[int(Param.COMMITTEE_MAX)])  # fmt: skip
    every = (1 << len(active)) - 1
    reasons = bytes(len(active))
    verdicts = [tx(jobs.submitVerdict(job_id, r, every, reasons), v) for v in seats]
    rd = client.call(jobs.round(job_id, r))
    assert rd[23] and not rd[25], "the last verdict should have tallied the round"  # tallied
    model = keccak(text=f"model-{i + 1}")
    confirms = []
    for v in seats:
        confirms.append(tx(jobs.confirm(job_id, r, model), v))
        if client.call(jobs.round(job_id, r))[24]:  # finalized
            break
    assert client.call(jobs.round(job_id, r))[24], "the committee never finalized the round"
    claim = tx(jobs.claim(), active[0])

    tally, finalize = verdicts[-1], confirms[-1]
    round_total = start + sum(accept) + sum(commit) + sum(reveal) + sum(verdicts) + sum(confirms)
    return {
        "members": len(active),
        "seats": k,
        "voters": len(seats),
        "startRound": start,
        "accept": statistics.median(accept),
        "commit": statistics.median(commit),
        "commit_max": max(commit),
        "reveal": statistics.median(reveal),
        "verdict": statistics.median(verdicts[:-1]) if len(verdicts) > 1 else 0,
        "tally": tally,
        "confirm": statistics.median(confirms[:-1]) if len(confirms) > 1 else 0,
        "confirms": len(confirms),
        "finalize": finalize,
        "claim": claim,
        "verdicts_total": sum(verdicts),
        "confirms_total": sum(confirms),
        "round_total": round_total,  # every transaction of the round, claims excluded
        "round/member": round_total / len(active),
        "finalize/member": finalize / len(active),
        "settle_floor": _settle_gas(len(active), len(seats)),
    }


def _batched(
    suite: Any, job_id: int, r: int, active: list[Any], updates: dict[str, bytes], salt: bytes
) -> tuple[list[float], list[float]]:
    """Every member's commit in one signed batch and every opening in another, sent by the
    job's owner; per-entry gas (the batch over its entries), one figure per member."""
    from milon_app.chain.bindings import Milon

    milon, owner = Milon(suite), suite.deployer
    signed = [
        batches.sign_commit(
            milon, m, job_id, r, _commitment(updates[m.address], 100, salt, m.address, job_id, r)
        )
        for m in active
    ]
    out = batches.commit_batch(milon, owner, job_id, r, signed)
    assert len(out.landed) == len(active), f"{len(out.landed)} of {len(active)} commits landed"
    openings = [batches.Opening(m.address, updates[m.address], 100, salt) for m in active]
    out_r = batches.reveal_batch(milon, owner, job_id, r, openings)
    assert len(out_r.landed) == len(active), f"{len(out_r.landed)} of {len(active)} reveals"
    gas, gas_r = int(out.receipt["gasUsed"]), int(out_r.receipt["gasUsed"])
    n = len(active)
    return [gas / n] * n, [gas_r / n] * n


def print_table(rows: list[dict[str, float]]) -> None:
    width = 12
    print(" | ".join(f"{c:>{width}}" for c in COLUMNS))
    print("-+-".join("-" * width for _ in COLUMNS))
    for row in rows:
        print(" | ".join(f"{row[c]:>{width},.0f}" for c in COLUMNS))


def print_per_member(rows: list[dict[str, float]]) -> None:
    """Where a round's gas goes, per round member: what to attack first."""
    print("\nper round member (round/member = the sum):")
    cols = ["members", "startRound", "accept", "commit", "reveal", "verdicts", "confirms", "sum"]
    print(" | ".join(f"{c:>12}" for c in cols))
    for r in rows:
        n = r["members"]
        cells = [n, r["startRound"] / n, r["accept"], r["commit"], r["reveal"],
                 r["verdicts_total"] / n, r["confirms_total"] / n, r["round/member"]]  # fmt: skip
        print(" | ".join(f"{c:>12,.0f}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes",
        default="4,16,64,256",
        help="comma-separated members[:seats] (default 4,16,64,256)",
    )
    ap.add_argument("--with-256", action="store_true", help="also 256 members (optional, slow)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds per job; the figures are the last round's (2: the steady state, members "
        "with a delivery record and unclaimed pay)",
    )
    ap.add_argument(
        "--explicit-accept",
        action="store_true",
        help="every member accepts before it commits (the path of a member that trains past "
        "the accept window)",
    )
    ap.add_argument(
        "--self-send",
        action="store_true",
        help="every member sends its own commit and reveal (the nodes' fallback when no "
        "batcher takes their entries)",
    )
    args = ap.parse_args(argv)
    sizes = [parse_size(x) for x in args.sizes.split(",")]
    t0 = time.perf_counter()
    client = ChainClient.embedded()
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    rows = []
    for n, k in sizes:
        if n > 128:
            raise_round_members(client, suite, n)
        rows.append(
            measure(client, suite, n, k, args.explicit_accept, args.rounds, not args.self_send)
        )
    if args.with_256:
        roomy = roomy_embedded()
        roomy_suite = deploy_suite(roomy, roomy.dev_accounts[0], dev=True)
        raise_round_members(roomy, roomy_suite, 256)
        rows.append(
            measure(roomy, roomy_suite, 256, 0, args.explicit_accept, args.rounds,
                    not args.self_send)
        )  # fmt: skip
    print_table(rows)
    print_per_member(rows)
    print(
        "\nseats: drawn by stake with replacement (everyone sits, weighted by stake, when there "
        "are no more members); voters: distinct members holding them. verdict/confirm: median of "
        "the non-settling calls; tally: the last verdict; finalize: the confirmation that settles"
    )
    same = [r for r in rows if r["seats"] == 7 and r["block_gas"] == BLOCK_GAS]
    if len(same) > 1:
        a, b = same[0], same[-1]
        dn = b["members"] - a["members"]
        print(
            f"marginal gas per extra round member (7 seats): startRound "
            f"{(b['startRound'] - a['startRound']) / dn:,.0f}, finalize "
            f"{(b['finalize'] - a['finalize']) / dn:,.0f}, round "
            f"{(b['round_total'] - a['round_total']) / dn:,.0f}"
        )
    worst_commit = max(r["commit_max"] for r in rows)
    ok = worst_commit < 100_000
    print(f"commit max {worst_commit:,.0f} gas (goal < 100,000): {'OK' if ok else 'OVER'}")
    for r in rows:
        settle = max(r["tally"], r["finalize"])
        fits = settle <= r["settle_floor"] and r["startRound"] <= r["start_floor"]
        ok = ok and fits
        print(
            f"{r['members']:.0f} members, {r['seats']:.0f} seats: settling call {settle:,.0f} gas "
            f"(floor {r['settle_floor']:,.0f}), startRound {r['startRound']:,.0f} "
            f"(floor {r['start_floor']:,.0f}): {'OK' if fits else 'OVER'}"
        )
        if r["startRound"] > BLOCK_GAS:
            print(
                f"  startRound at {r['members']:.0f} members needs more than a {BLOCK_GAS:,} gas "
                f"block (measured on a {r['block_gas']:,} gas block)"
            )
    print(f"elapsed {time.perf_counter() - t0:.1f} s on the embedded chain")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
