"""Transaction latency on anvil: how the wait for the receipt is polled (issue 21, item 5).

Three ways to wait for the same kind of transaction (a signed ETH transfer, nonce and
fees known), interleaved one transaction each in turn on the same anvil in the same run:
- ``web3 default``: ``wait_for_transaction_receipt`` with web3's 0.1 s poll (the baseline);
- ``fixed 10 ms``: the client before chain-paced polling (devnets polled every 10 ms);
- ``chain-paced``: ``ChainClient`` now (resend.py: at once, then doubling from 2 ms up
  to a quarter of the block time).
Run on an instant-mining anvil, and on anvils mining a block every 50 ms and every
second where each transaction waits for the next block (a busy devnet, a slow chain). Prints median / p90 latency, receipt requests per transaction and the ratio of
each median to the baseline's. Asserts nothing.

    .venv/bin/python tests/bench/bench_receipt_poll.py [--txs 60] [--busy-txs 40] [--slow-txs 6]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from milon_app.chain.client import ChainClient
from milon_app.chain.devnet import Anvil

Waiter = Callable[[ChainClient, Any, Any], Any]


def web3_default(client: ChainClient, pending: Any, tx_hash: Any) -> Any:
    return client.w3.eth.wait_for_transaction_receipt(tx_hash)


def fixed_10ms(client: ChainClient, pending: Any, tx_hash: Any) -> Any:
    return client.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)


def chain_paced(client: ChainClient, pending: Any, tx_hash: Any) -> Any:
    return client._receipt(pending, tx_hash)


WAYS: dict[str, Waiter] = {
    "web3 default (0.1 s)": web3_default,
    "fixed 10 ms": fixed_10ms,
    "chain-paced": chain_paced,
}


def count_receipt_polls(client: ChainClient) -> list[int]:
    """Count eth_getTransactionReceipt requests the client's provider sends over HTTP."""
    counter = [0]
    provider: Any = client.w3.provider
    inner = provider._make_request

    def counted(method: Any, data: bytes) -> Any:
        if method == "eth_getTransactionReceipt":
            counter[0] += 1
        return inner(method, data)

    provider._make_request = counted
    return counter


def run(
    anvil: Anvil, txs: int, block_s: float = 0.0
) -> dict[str, tuple[list[float], list[int]]]:
    """``txs`` transactions per way, in turn; with ``block_s``, each sent at a random point
    of the block interval (not timed), so no way always follows another's lucky phase."""
    rng = random.Random(21)
    client = ChainClient.connect(anvil.url, dev_accounts=2)
    sender, to = client.dev_accounts
    client.send_eth(sender, to.address, 1)  # nonce, fees and block time known
    client.waiter.block_time_s()
    polls = count_receipt_polls(client)
    out: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in WAYS}
    for _ in range(txs):
        for name, wait in WAYS.items():
            time.sleep(rng.uniform(0, block_s))
            before = polls[0]
            t0 = time.perf_counter()
            with client._lock:
                nonce = client._next_nonce(sender.address)
                tx = {"to": to.address, "value": 1, "gas": 21_000, "nonce": nonce,
                      "chainId": client.chain_id, **client.current_fees()}  # fmt: skip
                pending = client._sign_send(sender, tx, "send ETH")
            receipt = wait(client, pending, pending.hashes[0])
            assert receipt["status"] == 1
            out[name][0].append((time.perf_counter() - t0) * 1000)
            out[name][1].append(polls[0] - before)
    return out


def report(title: str, results: dict[str, tuple[list[float], list[int]]]) -> None:
    base = statistics.median(results["web3 default (0.1 s)"][0])
    print(f"\n{title}")
    print("| wait | txs | median ms | mean ms | p90 ms | receipt polls / tx | median vs web3 default |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (ms, polls) in results.items():
        med = statistics.median(ms)
        p90 = sorted(ms)[int(0.9 * (len(ms) - 1))]
        print(f"| {name} | {len(ms)} | {med:.1f} | {statistics.mean(ms):.1f} | {p90:.1f} | "
              f"{statistics.mean(polls):.1f} | x{med / base:.3f} |")  # fmt: skip


def started(anvil: Anvil, blocks: int) -> Anvil:
    """Wait until ``anvil`` mined ``blocks`` blocks (a block time to read)."""
    deadline = time.monotonic() + 10
    while ChainClient.connect(anvil.url).block_number() < blocks:
        if time.monotonic() > deadline:
            raise SystemExit("anvil mined no blocks")
        time.sleep(0.05)
    return anvil


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=60, help="transactions per way, instant mining")
    ap.add_argument("--busy-txs", type=int, default=40, help="per way, 50 ms blocks")
    ap.add_argument("--slow-txs", type=int, default=6, help="per way, 1 s blocks")
    args = ap.parse_args()
    with Anvil(accounts=2) as anvil:
        report("anvil, instant mining (127.0.0.1)", run(anvil, args.txs))
    if args.busy_txs:
        with Anvil(accounts=2, block_time_s=0.05, mixed_mining=False) as anvil:
            title = "anvil, a block every 50 ms: each transaction waits for the next block"
            report(title, run(started(anvil, 3), args.busy_txs, 0.05))
    if args.slow_txs:
        with Anvil(accounts=2, block_time_s=1, mixed_mining=False) as anvil:
            title = "anvil, a block every 1 s: each transaction waits for the next block"
            report(title, run(started(anvil, 3), args.slow_txs, 1.0))


if __name__ == "__main__":
    main()
