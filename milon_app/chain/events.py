"""Follow contract events from a block height, resumably.

A node persists ``next_block`` after handling each batch; after a restart it
resumes from there and sees every event exactly once, in chain order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.abi import event_abi_to_log_topic
from web3._utils.events import get_event_data
from web3.contract import Contract

from milon_app.chain.client import ChainClient


@dataclass(frozen=True)
class ChainEvent:
    contract: str
    name: str
    args: dict[str, Any]
    block: int
    tx_hash: str
    log_index: int


class EventCursor:
    """Pull-based: call :meth:`poll` on a timer; nothing runs in the background."""

    def __init__(
        self,
        client: ChainClient,
        contracts: Mapping[str, Contract],
        from_block: int,
        *,
        batch_blocks: int = 2_000,
        confirmations: int = 0,
    ) -> None:
        self.client = client
        self.next_block = from_block
        self.batch_blocks = batch_blocks
        self.confirmations = confirmations
        self._by_address = {c.address: (name, c) for name, c in contracts.items()}
        self._topics: dict[tuple[str, bytes], dict[str, Any]] = {}
        for name, c in contracts.items():
            for item in c.abi:
                if item.get("type") == "event" and not item.get("anonymous"):
                    topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
                    self._topics[(c.address, bytes(topic))] = dict(item)
            del name

    def poll(self) -> list[ChainEvent]:
        """Events from ``next_block`` up to the latest (minus confirmations) block.

        Read in pages the RPC accepts (log_scan.py); ``next_block`` moves on after each."""
        head = self.client.block_number() - self.confirmations
        out: list[ChainEvent] = []
        while self.next_block <= head:
            end = min(head, self.next_block + self.batch_blocks - 1)
            logs: Any = self.client.get_logs(self._fetch, self.next_block, end)
            for entry in logs:
                out.append(self._decode(entry))
            self.next_block = end + 1
        out.sort(key=lambda e: (e.block, e.log_index))
        return out

    def _fetch(self, start: int, end: int) -> Any:
        flt: Any = {"address": list(self._by_address), "fromBlock": start, "toBlock": end}
        return self.client.w3.eth.get_logs(flt)

    def _decode(self, entry: Any) -> ChainEvent:
        address = entry["address"]
        abi = self._topics.get((address, bytes(entry["topics"][0])))
        contract_name = self._by_address[address][0]
        if abi is None:
            return ChainEvent(
                contract_name,
                "Unknown",
                {},
                entry["blockNumber"],
                entry["transactionHash"].hex(),
                entry["logIndex"],
            )
        data = get_event_data(self.client.w3.codec, abi, entry)
        return ChainEvent(
            contract=contract_name,
            name=str(data["event"]),
            args=dict(data["args"]),
            block=int(data["blockNumber"]),
            tx_hash=data["transactionHash"].hex(),
            log_index=int(data["logIndex"]),
        )
