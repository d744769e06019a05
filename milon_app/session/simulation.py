"""This machine's simulated federation: a chain and fellow members in one process.

A newcomer should see MILON work before lending a GPU to strangers, so the
app's first network is a real suite on the embedded EVM with a few
simulated members (dev accounts, each a full :class:`NodeCore` with its own
slice of the built-in datasets). The user's node joins, trains, votes and
owns jobs among them exactly as on a public network.

Simulated members do not vote on proposals: those pass on the user's own
(delegated) tokens, so the governance screens show cause and effect. How the
members' data is split is an option (``partition``: iid, dirichlet:ALPHA or
shards:K), so the committee can be watched judging skewed updates too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError
from milon_app.node.local_data import BuiltinPartition

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import Suite
    from milon_app.demo import DemoOptions, DemoReport, RoundRow
    from milon_app.harness import LocalFederation
    from milon_app.node.bus import EventBus
    from milon_app.node.core import NodeCore
    from milon_app.node.transports import Factory
    from milon_app.session.welcome_job import WelcomeJob

ETHER = 10**18
USER_ETH = 10 * ETHER  # gas money for the user's own account
USER_MILON = 5_000_000 * ETHER  # enough to stake and to reach the 4% quorum alone
PEER_MILON = 1_000_000 * ETHER
PEER_STAKE = 50 * ETHER
FEDERATION_NAME = "Simulated federation"
MIN_STAKE = 10 * ETHER
DEMO_OWNER_MILON = 30_000_000 * ETHER  # the in-app demo's owner passes its own proposal


@dataclass(frozen=True)
class SimOptions:
    peers: int = 3  # simulated members besides the user
    transport: str = "libp2p"
    partition: str = "iid"  # how the members' data is split: iid, dirichlet:ALPHA, shards:K

    def check(self, dev_accounts: int) -> None:
        from milon_app.compute.partition import parse_partition

        # account 0 deploys and founds the federation; the demo tab needs 3 more at least
        if not 1 <= self.peers <= dev_accounts - 4:
            raise BadInputError(f"simulated peers must be 1..{dev_accounts - 4}, got {self.peers}")
        parse_partition(self.partition)  # a BadInputError quoting the text

    def data_part(self, index: int) -> BuiltinPartition:
        """Member ``index``'s data (0: the user's node); iid unless the options say otherwise."""
        parts = self.peers + 1
        if self.partition.strip().lower() == "iid":
            return BuiltinPartition(index, parts)
        return BuiltinPartition(index, parts, partition=self.partition)


@dataclass
class SimulatedFederation:
    """Deploys the suite, founds a federation, funds the user, starts the peers."""

    def __init__(self, client: ChainClient, bus: EventBus, workdir: Path, opts: SimOptions) -> None:
        opts.check(len(client.dev_accounts))
        self.client = client
        self.bus = bus
        self.workdir = workdir
        self.opts = opts
        self.founder: LocalAccount = client.dev_accounts[0]
        self.peer_accounts = client.dev_accounts[1 : 1 + opts.peers]
        self.suite: Suite | None = None
        self.local: LocalFederation | None = None  # the simulated members, once deployed
        self.fed_id = 0
        self.make: Factory | None = None

    @property
    def peers(self) -> list[NodeCore]:
        return self.local.nodes if self.local is not None else []

    @property
    def spare_accounts(self) -> list[LocalAccount]:
        """Dev accounts nobody here uses: the in-app demo runs its own nodes on them."""
        return list(self.client.dev_accounts[1 + self.opts.peers :])

    def deploy(self) -> Suite:
        from milon_app.chain.deploy import deploy_suite
        from milon_app.harness import LocalFederation
        from milon_app.node.transports import transport_factory

        self.suite = deploy_suite(self.client, self.founder, dev=True)
        self.make = transport_factory(self.opts.transport, self.suite, self.bus)
        self.local = LocalFederation(self.suite, self.bus, self.make, self.workdir)
        return self.suite

    def fund(self, address: str) -> None:
        from milon_app.chain.bindings import Milon

        assert self.suite is not None
        self.client.send_eth(self.founder, address, USER_ETH)
        Milon(self.suite).transfer(self.founder, address, USER_MILON)

    def start_peers(self, bootstrap: list[str]) -> list[NodeCore]:
        """Found the federation and bring every simulated member into it."""
        from milon_app.chain.bindings import Milon
        from milon_app.node.build import NodeOptions

        local = self.local
        assert self.suite is not None and local is not None
        self.fed_id = Milon(self.suite).create_federation(
            self.founder, FEDERATION_NAME, b"\x00" * 32, MIN_STAKE
        )
        for i, acct in enumerate(self.peer_accounts, start=1):
            opts = NodeOptions(data=self.data_part(i), threads=1)
            if i == 1:  # the member that posts the welcome job (session/welcome_job.py)
                opts = replace(opts, roles=(*opts.roles, "owner"), eval_source=_held_out)
            node = local.build(acct, f"peer{i}", opts, bootstrap)
            local.enrol(
                node, funder=self.founder, milon=PEER_MILON, fed_id=self.fed_id,
                stake=PEER_STAKE, capacity=100 * i, bootstrap=bootstrap,
            )  # fmt: skip
        return self.peers

    def data_part(self, index: int) -> BuiltinPartition:
        return self.opts.data_part(index)

    def user_data(self) -> Any:
        return self.data_part(0)

    def welcome_job(self, user: str) -> WelcomeJob:
        """The first job, posted by the first simulated member once ``user`` has joined."""
        from milon_app.session.welcome_job import WelcomeJob

        return WelcomeJob(self.peers[0], user, self.fed_id)

    def run_demo(
        self,
        opts: DemoOptions,
        on_round: Callable[[RoundRow, int], None] | None,
        stop: threading.Event,
    ) -> DemoReport:
        """``milon demo`` on this chain, its nodes on the spare accounts, its events on our bus."""
        from milon_app.chain.bindings import Milon
        from milon_app.demo import DemoAttach, run_demo

        accounts = self.spare_accounts
        if self.suite is None:
            raise BadInputError("the simulated federation is not deployed yet")
        if opts.nodes + 1 > len(accounts):
            raise BadInputError(
                f"the simulated chain has accounts for {len(accounts) - 1} demo nodes, "
                f"asked for {opts.nodes}"
            )
        Milon(self.suite).transfer(self.founder, accounts[0].address, DEMO_OWNER_MILON)
        attach = DemoAttach(self.suite, accounts, self.bus)
        return run_demo(opts, on_round, attach=attach, stop=stop)

    def stop(self) -> None:
        if self.local is not None:
            self.local.close("app closed")


def _held_out(ctx: Any) -> Any:
    """The welcome job's owner scores each round's model on the dataset's held-out split."""
    from milon_app.node.local_data import eval_split

    return eval_split(ctx.dataset, ctx.spec)
