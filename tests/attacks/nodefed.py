"""A small federation of real nodes for the attacks that live in the node, not the contract.

An owner and a few contributors, each a ``NodeCore`` with its own state DB and blob store,
on the embedded chain, joined through an in-process hub whose providers check membership on
chain exactly like the libp2p transport does (``member_authorizer``). Tests drive ticks by
hand (``until``), move chain time only when nobody can act, and read money from the chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from milon_app.chain.bindings import JobStatus
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.compute.datasets import DatasetSpec, load_dataset
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.partition import partition_iid
from milon_app.node.behaviour import HONEST, Behaviour
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.core import NodeCore, TensorData
from milon_app.node.owner import JobRequest
from milon_app.node.transports import transport_factory
from milon_app.node.validation_data import split_holdout
from milon_app.p2p.inprocess import InProcessHub

ETHER = 10**18
STAKE = 50 * ETHER


@dataclass
class NodeFed:
    client: ChainClient
    suite: object
    owner: NodeCore
    nodes: list[NodeCore]
    fed_id: int
    bus: EventBus
    hub: InProcessHub
    root: Path
    data: object
    validation: tuple[torch.Tensor, torch.Tensor]
    extra: list[NodeCore] = field(default_factory=list)

    @property
    def everyone(self) -> list[NodeCore]:
        return [*self.nodes, *self.extra, self.owner]

    def make_node(self, acct: object, name: str, **kw: object) -> NodeCore:
        """A node on the hub (providers checked on chain); ``kw``: its :class:`NodeOptions`."""
        make = transport_factory("inprocess", self.suite, self.bus, hub=self.hub)
        opts = NodeOptions(**{"threads": 1, **kw})  # type: ignore[arg-type]
        return build_node(acct, self.suite, self.bus, self.root / name, make, opts)

    def tick(self) -> bool:
        busy = False
        for nd in self.everyone:
            busy = nd.tick() or busy
        return busy

    def until(self, done: Callable[[], bool], max_s: float = 300, each: bool = False) -> None:
        """Tick until ``done()``; when nobody could act, move chain time a minute. ``each``:
        check after every node's tick, so a test can stop between two steps of a round."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            block, busy = self.client.block_number(), False
            for nd in self.everyone:
                busy = nd.tick() or busy
                if each and done():
                    return
            if done():
                return
            if busy:
                time.sleep(0.02)
            elif self.client.block_number() == block:
                self.client.increase_time(60)
        raise AssertionError(f"condition not reached within {max_s} s")

    def job(self, rounds: int = 2, epochs: int = 8, **kw: object) -> int:
        req = JobRequest(
            fed_id=self.fed_id,
            spec=digits_mlp(),
            dataset=DatasetSpec(kind="builtin", name="digits"),
            total_epochs=rounds * epochs,
            epochs_per_round=epochs,
            reward_per_epoch=ETHER,
            validation=self.validation,
            **kw,
        )
        return self.owner.owner.create_job(req)

    def round_closed(self, job_id: int, r: int) -> Callable[[], bool]:
        def closed() -> bool:
            job = self.owner.milon.job(job_id)
            return job.current_round >= r and self.owner.milon.round(job_id, r).closed

        return closed

    def completed(self, job_id: int) -> Callable[[], bool]:
        return lambda: self.owner.milon.job(job_id).status is JobStatus.COMPLETED

    def stake(self, node: NodeCore) -> int:
        return self.owner.milon.member(self.fed_id, node.address).stake

    def claimable(self, node: NodeCore) -> int:
        return self.owner.milon.claimable(node.address)

    def close(self) -> None:
        for nd in self.everyone:
            nd.stop()
            nd.state.close()


def node_federation(
    root: Path,
    behaviours: list[Behaviour] | None = None,
    n: int = 4,
    client: ChainClient | None = None,
) -> NodeFed:
    """An owner and ``n`` contributors with IID digits shards, joined and started;
    ``client``: another chain than a fresh embedded one (an anvil, with dev accounts)."""
    client = client or ChainClient.embedded()
    owner_acct, accts = client.dev_accounts[0], client.dev_accounts[1 : n + 1]
    suite = deploy_suite(client, owner_acct, dev=True)
    data = load_dataset(DatasetSpec(kind="builtin", name="digits")).for_model(digits_mlp())
    (x, y), held = split_holdout(data.x_train, data.y_train, 0)
    parts = partition_iid(int(x.shape[0]), n, 0)
    fed = NodeFed(
        client,
        suite,
        None,
        [],
        0,
        EventBus(history=20_000),
        InProcessHub(),
        root,  # type: ignore[arg-type]
        data,
        held,
    )
    fed.owner = fed.make_node(owner_acct, "owner", roles=("owner", "keeper"))
    fed.owner.owner.eval_data = (data.x_test, data.y_test)
    kinds = behaviours or [HONEST] * n
    for i, acct in enumerate(accts):
        idx = torch.as_tensor(parts[i])
        fed.nodes.append(
            fed.make_node(acct, f"n{i}", data=TensorData(x[idx], y[idx]), behaviour=kinds[i])
        )
    fed.fed_id = fed.owner.milon.create_federation(owner_acct, "attacks", b"\0" * 32, 10 * ETHER)
    fed.owner.start()
    for nd in fed.nodes:
        fed.owner.milon.transfer(owner_acct, nd.address, 1_000 * ETHER)
        nd.start()
        nd.join(fed.fed_id, STAKE, 100, f"inprocess:{nd.address}")
    return fed


def record_serves(fed: NodeFed) -> list[tuple[str, str, str]]:
    """(provider peer id, requester peer id, digest) of every blob a hub peer handed out."""
    served: list[tuple[str, str, str]] = []
    for pid, peer in fed.hub.peers.items():
        real = peer.authorize

        def authorize(requester: str, digest: str, pid=pid, peer=peer, real=real) -> bool:  # type: ignore[no-untyped-def]
            ok = real(requester, digest)
            if ok and peer.store.has(digest):
                served.append((pid, requester, digest))
            return ok

        peer.authorize = authorize
    return served


def job_with_seats(fed: NodeFed, tries: int = 6) -> int:
    """A one-round job whose committee (3 seats drawn by stake, with replacement, from 6
    equal stakes) has at least two distinct members: with one, every update but that
    member's leaves its author once anyway, and its own is judged by nobody. About one draw
    in 36 gives one member all three seats; such a job is left to run, and another made."""
    m = fed.owner.milon
    for _ in range(tries):
        job_id = fed.job(rounds=1, committee_size=3)
        fed.until(lambda j=job_id: m.job(j).current_round == 1)
        if len(set(m.committee(job_id, 1))) >= 2:
            return job_id
    raise AssertionError(f"{tries} committee draws in a row gave one member every seat")
