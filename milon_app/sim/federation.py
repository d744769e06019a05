"""Build the simulated federation: one owner, N member nodes, one job per cohort.

The contract caps a round at the governed ``maxRoundMembers`` (128 as deployed; at most
256, one bit each in a ``uint256`` bitmap) and a federation at 256 members by default.
So N members are split into equal cohorts no larger than the round cap; each cohort is
its own federation with its own job (same model, data, committee size), and a simulated
round is one round of every cohort's job, all driven in the same passes. Every member is
a real :class:`NodeCore` (its own state DB, blob store and place on one in-process hub)
sharing one batched trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import Param
from milon_app.chain.deploy import deploy_suite
from milon_app.node.build import NodeOptions, build_node
from milon_app.node.bus import EventBus
from milon_app.node.core import NodeCore, TensorData
from milon_app.node.transports import transport_factory
from milon_app.p2p.inprocess import InProcessHub
from milon_app.sim.chain import SimChainClient, member_accounts
from milon_app.sim.pipeline import SETUP
from milon_app.sim.shared import SharedJudging
from milon_app.sim.stores import KeptPinTable
from milon_app.sim.worker import BatchedWorker

if TYPE_CHECKING:
    import torch

ETHER = 10**18
COHORT_MAX = 256  # the contract's MAX_ROUND_MEMBERS_LIMIT and default federation size
STAKE = 10 * ETHER
MEMBER_ETH = ETHER  # gas money (anvil gives its dev accounts 10,000 ETH each)
REWARD_PER_EPOCH = 10**15
Progress = Callable[[str, int, int], None]


@dataclass
class Cohort:
    """One federation of members running one job."""

    fed_id: int
    job_id: int
    members: list[NodeCore]


@dataclass
class SimFederation:
    client: SimChainClient
    suite: Any
    owner: NodeCore
    cohorts: list[Cohort]
    worker: BatchedWorker
    bus: EventBus
    nodes: list[NodeCore] = field(default_factory=list)  # every started node, owner first
    shared: SharedJudging = field(default_factory=SharedJudging)  # the judges' pure work

    @property
    def members(self) -> list[NodeCore]:
        return [m for c in self.cohorts for m in c.members]

    def close(self) -> None:
        for nd in self.nodes:
            nd.close("simulation finished")
            if isinstance(nd.store.pins, KeptPinTable):
                nd.store.pins.close()
        self.nodes.clear()


def cohort_sizes(members: int, cap: int = COHORT_MAX) -> list[int]:
    """Equal cohorts of at most ``cap`` members (sizes differ by at most one)."""
    cap = max(2, min(cap, COHORT_MAX))
    k = -(-members // cap)
    return [members // k + (1 if i < members % k else 0) for i in range(k)]


def build_federation(
    client: SimChainClient,
    work: Path,
    *,
    members: int,
    data: list[TensorData],
    worker: BatchedWorker,
    eval_data: tuple[torch.Tensor, torch.Tensor],
    progress: Progress | None = None,
) -> SimFederation:
    """Deploy the suite, start the owner and every member node, join each to its cohort."""
    owner_acct = client.dev_accounts[0]
    suite = deploy_suite(client, owner_acct, dev=True)
    bus = EventBus(history=1_000)
    hub = InProcessHub()
    make = transport_factory("inprocess", suite, bus, hub=hub)
    owner = build_node(
        owner_acct, suite, bus, work / "owner", make,
        NodeOptions(roles=("owner", "keeper"), threads=1, eval_data=eval_data),
    )  # fmt: skip
    owner.store.pins = KeptPinTable(owner.store.pins.path)
    owner.start()
    sim = SimFederation(client, suite, owner, [], worker, bus, [owner])
    round_cap = owner.milon.params()[Param.MAX_ROUND_MEMBERS]
    accounts = iter(member_accounts(members, seed=0))
    done = 0
    for size in cohort_sizes(members, round_cap):
        fed = owner.milon.create_federation(
            owner_acct, f"sim-{len(sim.cohorts)}", b"\0" * 32, STAKE
        )
        cohort = Cohort(fed, 0, [])
        accts = [next(accounts) for _ in range(size)]
        # On a devnet a cohort joins in two blocks (milon_app.sim.pipeline): the owner's gas
        # money and stake to every member, then every member's approve and join.
        with client.pipeline.one_pass(SETUP):
            for acct in accts:
                client.send_eth(owner_acct, acct.address, MEMBER_ETH)
                owner.milon.transfer(owner_acct, acct.address, STAKE)
        with client.pipeline.one_pass(SETUP):
            for acct in accts:
                opts = NodeOptions(roles=("contributor", "validator"), data=data[done],
                                   threads=1, worker=worker)  # fmt: skip
                node = build_node(acct, suite, bus, work / f"m{done}", make, opts)
                node.store.pins = KeptPinTable(node.store.pins.path)
                node.committee.evaluators = sim.shared.evaluators
                node.committee.aggregator = sim.shared.aggregate
                node.committee.decoder = sim.shared.decode
                node.committee.stats = sim.shared.stats
                client.share_assignments(node.milon)
                node.start()
                sim.nodes.append(node)
                node.join(fed, STAKE, 100, f"inprocess:{node.address}")
                cohort.members.append(node)
                done += 1
                if progress is not None:
                    progress("joining", done, members)
        sim.cohorts.append(cohort)
    return sim
