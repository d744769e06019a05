"""``milon demo``: a whole federation in one process, on the embedded chain by default.

It deploys the suite, funds a job owner and N contributors with different
capacity scores, runs a job (digits by default; any built-in or JSON model
spec on any dataset it fits, see :mod:`milon_app.demo_data`) round by round
through the real node core (contracts, commit-reveal, validation, consensus,
rewards, slashing), passes a governance proposal, and compares the result
with a centralized baseline trained in the same run.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milon_app.chain.bindings import DEPLOYED_COMMITTEE, AggregationRule
from milon_app.compute.privacy_spec import (
    DEFAULT_CLIP,
    DEFAULT_DELTA,
    NO_PRIVACY,
    PrivacySpec,
    option_message,
)
from milon_app.demo_driver import DemoStopped, cancel_if_idle, check_stop, end_job, run_rounds
from milon_app.demo_privacy import privacy_report, sgd_report
from milon_app.demo_rounds import RoundRow
from milon_app.demo_summary import baseline_accuracy, govern, settle, stakes
from milon_app.errors import BadInputError
from milon_app.federation.types import RULE_NAMES
from milon_app.node.behaviour import ATTACKS
from milon_app.util import heap

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore

__all__ = ["DemoAttach", "DemoOptions", "DemoReport", "DemoStopped", "RoundRow", "run_demo"]

ETHER = 10**18
RULES = {name: AggregationRule(rule_id) for name, rule_id in RULE_NAMES.items()}
# One process holds every node: a libp2p host each (sockets, a trio thread, gossip) up to 64;
# the in-process transport, which shares one hub, goes further.
MAX_NODES = {"libp2p": 64, "inprocess": 256}


@dataclass(frozen=True)
class DemoOptions:
    nodes: int = 4
    rounds: int = 8
    epochs_per_round: int = 0  # 0: 5 x nodes (5 local epochs per node on average)
    rule: str = "fedavg"
    byzantine: int = 0
    attack: str = "signflip"
    dataset: str = "digits"  # a built-in, a dataset spec file, an .npz file or an image folder
    model: str = ""  # a built-in spec name or a JSON spec file; "": the dataset's default
    chain: str = "embedded"
    seed: int = 0
    transport: str = "libp2p"  # real hosts on 127.0.0.1; "inprocess" only for tests
    workdir: Path | None = None
    data_mode: str = "federated"  # or "shared": the owner's data split into shards nodes fetch
    governance: bool = True  # run the governance cycle after the job
    baseline: bool = True  # train the centralized baseline for comparison
    committee: int = 0  # validator committee size; 0: the governed default (all when fewer)
    partition: str = "iid"  # how members' data is split: iid, dirichlet:ALPHA, shards:K
    validation: str = "owner"  # committee's held-out data: the owner's, or each member's own
    dp: str = "none"  # the job's differential privacy: none, client-dp, dp-sgd (privacy_spec)
    dp_epsilon: float = 0.0
    dp_delta: float = DEFAULT_DELTA
    dp_clip: float = DEFAULT_CLIP
    dp_max_epochs: int = 0  # dp-sgd's per-member epoch bound; 0: default_max_epochs()

    def check(self) -> None:
        most = MAX_NODES.get(self.transport, 64)
        if not 2 <= self.nodes <= most:
            raise BadInputError(
                f"--nodes must be in 2..{most} with the {self.transport} transport, "
                f"got {self.nodes}"
            )
        if not 1 <= self.rounds <= 100:
            raise BadInputError(f"--rounds must be in 1..100, got {self.rounds}")
        if self.epochs_per_round < 0:
            raise BadInputError(f"--epochs-per-round must be >= 0, got {self.epochs_per_round}")
        if self.rule not in RULES:
            raise BadInputError(f"--rule {self.rule!r}: expected one of {', '.join(RULES)}")
        if not 0 <= self.byzantine < self.nodes:
            raise BadInputError(f"--byzantine must be in 0..{self.nodes - 1}, got {self.byzantine}")
        from milon_app.demo_data import dataset_spec

        dataset_spec(self.dataset, self.seed)  # names something loadable (read later)
        if self.model:
            from milon_app.compute.model_choice import resolve_model

            resolve_model(self.model)
        if self.byzantine and self.attack not in ATTACKS:
            raise BadInputError(
                f"unknown attack {self.attack!r}: expected one of {', '.join(ATTACKS)}"
            )
        if self.data_mode not in ("federated", "shared"):
            raise BadInputError(f"--data-mode {self.data_mode!r}: expected federated or shared")
        if self.transport not in ("libp2p", "inprocess"):
            raise BadInputError(f"--transport {self.transport!r}: expected libp2p or inprocess")
        low, _, high = DEPLOYED_COMMITTEE  # the demo deploys its own chain: these bounds hold
        if self.committee and not low <= self.committee <= high:
            raise BadInputError(
                f"--committee must be 0 (the default) or {low}..{high}, not {self.committee}"
            )
        if self.validation not in ("owner", "local"):
            raise BadInputError(f"--validation {self.validation!r}: expected owner or local")
        from milon_app.compute.partition import parse_partition

        parse_partition(self.partition)
        if self.privacy.max_epochs and self.privacy.max_epochs < self.share_cap:
            raise BadInputError(
                f"--dp-max-epochs {self.privacy.max_epochs} is below one round's share cap of "
                f"{self.share_cap} epochs ({self.epochs} a round over {self.nodes} nodes): every "
                f"member would decline every round"
            )

    @property
    def privacy(self) -> PrivacySpec:
        if self.dp == "none":
            return NO_PRIVACY
        raw: dict[str, Any] = {"mode": self.dp, "epsilon": self.dp_epsilon, "delta": self.dp_delta}
        if self.dp == "dp-sgd":
            raw["max_epochs"] = self.dp_max_epochs or self.default_max_epochs
        elif self.dp_max_epochs:
            raw["max_epochs"] = self.dp_max_epochs  # refused, named, for other modes
        try:
            privacy = PrivacySpec.from_dict({**raw, "clip": self.dp_clip})
            privacy.check_job(self.total_epochs)
        except BadInputError as exc:
            raise BadInputError(option_message(str(exc))) from None
        return privacy

    @property
    def total_epochs(self) -> int:
        return self.rounds * self.epochs

    @property
    def share_cap(self) -> int:
        """The most epochs of a round one member can hold (re-splits included), as the
        demo's fresh TrainingJobs computes it: the equal share, or up to twice it but at
        most half the round (its deployed max share parameters, 20,000 and 5,000 bps)."""
        e, n = self.epochs, self.nodes
        return max(-(-e // n), min(-(-2 * e // n), -(-e // 2)))

    @property
    def default_max_epochs(self) -> int:
        """dp-sgd's bound when --dp-max-epochs is not given: twice a member's equal share of
        the job (members' shares follow their capacity, and rejected updates' epochs come
        back), capped at the job's total. A member that reaches it declines the job's later
        rounds, whose epochs go to the others."""
        return min(self.total_epochs, -(-2 * self.total_epochs // self.nodes))

    @property
    def epochs(self) -> int:
        return self.epochs_per_round or 5 * self.nodes


@dataclass(frozen=True)
class DemoAttach:
    """Run on an existing deployment (the app's simulated chain) instead of a fresh one."""

    suite: Any
    accounts: list[Any]  # the owner first, then at least ``nodes`` contributors
    bus: Any


@dataclass
class DemoReport:
    options: dict[str, Any]
    nodes: list[dict[str, Any]]
    model: dict[str, Any] = field(default_factory=dict)  # name, spec hash, params, shapes
    dataset: dict[str, Any] = field(default_factory=dict)  # name, kind, samples, classes
    rounds: list[RoundRow] = field(default_factory=list)
    final_accuracy: float | None = None
    centralized_accuracy: float | None = None
    rewards: dict[str, int] = field(default_factory=dict)
    slashed: dict[str, int] = field(default_factory=dict)
    governance: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    job_id: int = 0
    total_gas: int = 0
    privacy: dict[str, Any] = field(default_factory=dict)  # mode, epsilon_spent, delta, ...


def model_for(dataset: str, n_features: int, n_classes: int) -> Any:
    from milon_app.compute.model_spec import digits_mlp, tabular_mlp

    return digits_mlp() if dataset == "digits" else tabular_mlp(n_features, n_classes)


def run_demo(
    opts: DemoOptions,
    on_round: Callable[[RoundRow, int], None] | None = None,
    *,
    attach: DemoAttach | None = None,
    stop: threading.Event | None = None,
) -> DemoReport:
    """Run the demo; ``stop`` (set by a closing app) ends it at the next step with
    :class:`DemoStopped`, every node stopped."""
    opts.check()
    if opts.workdir is not None:
        return _run(opts, opts.workdir, on_round, attach, stop)
    with tempfile.TemporaryDirectory(prefix="milon-demo-") as tmp:
        return _run(opts, Path(tmp), on_round, attach, stop)


@dataclass
class _Chain:
    client: Any
    suite: Any
    owner: Any  # the job owner's account
    members: list[Any]  # the contributors' accounts
    bus: Any


def _chain(opts: DemoOptions, attach: DemoAttach | None) -> _Chain:
    """The attached deployment, or the embedded chain / an RPC with a fresh one."""
    from milon_app.chain.client import EMBEDDED, ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.node.bus import EventBus

    n = opts.nodes
    if attach is not None:
        client, pool = attach.suite.client, attach.accounts
    elif opts.chain == EMBEDDED:
        client = ChainClient.embedded()
        pool = client.dev_accounts
    else:
        client = ChainClient.connect(opts.chain, dev_accounts=n + 1)
        pool = client.dev_accounts
    if len(pool) < n + 1:
        raise BadInputError(f"the chain offers {len(pool)} dev accounts, need {n + 1}")
    suite = attach.suite if attach is not None else deploy_suite(client, pool[0], dev=True)
    bus = attach.bus if attach is not None else EventBus(history=20_000)
    return _Chain(client, suite, pool[0], list(pool[1 : n + 1]), bus)


@dataclass
class _Data:
    work_load: Any  # demo_data.Workload: spec, dataset spec, data
    train: tuple[Any, Any]  # what the members share out (less the owner's held-out part)
    held: tuple[Any, Any] | None  # the owner's validation samples: never in any member's data
    parts: list[Any]  # each member's sample indices


def _data(opts: DemoOptions) -> _Data:
    from milon_app.compute.partition import parse_partition, split_clients
    from milon_app.demo_data import load_workload
    from milon_app.node.validation_data import split_holdout

    work_load = load_workload(opts.model, opts.dataset, opts.seed)  # mismatches end here
    if opts.privacy.enabled:  # the setting travels in the spec, whose hash the job records
        work_load = replace(work_load, spec=work_load.spec.with_privacy(opts.privacy))
    if opts.privacy.mode == "dp-sgd":  # a layer DP-SGD cannot train is refused before the job
        from milon_app.compute.dp_sgd import check_spec

        check_spec(work_load.spec)
    x_train, y_train = work_load.data.x_train, work_load.data.y_train
    held = None
    if opts.validation == "owner":
        (x_train, y_train), held = split_holdout(x_train, y_train, opts.seed)
    parts = split_clients(parse_partition(opts.partition), y_train.numpy(), opts.nodes, opts.seed)
    return _Data(work_load, (x_train, y_train), held, list(parts))


def _member_options(opts: DemoOptions, data: _Data, i: int) -> Any:
    import torch

    from milon_app.node.behaviour import HONEST, Behaviour
    from milon_app.node.build import NodeOptions
    from milon_app.node.core import TensorData

    byz = i >= opts.nodes - opts.byzantine
    idx = torch.as_tensor(data.parts[i])
    x, y = data.train
    return NodeOptions(
        data=None if opts.data_mode == "shared" else TensorData(x[idx], y[idx]),
        threads=1,
        behaviour=Behaviour(opts.attack, seed=i) if byz else HONEST,
    )


def _create_job(opts: DemoOptions, owner: NodeCore, fed: int, data: _Data) -> int:
    from milon_app.node.owner import JobRequest

    wl = data.work_load
    return owner.owner.create_job(
        JobRequest(
            fed_id=fed,
            spec=wl.spec,
            dataset=wl.dataset,
            total_epochs=opts.total_epochs,
            epochs_per_round=opts.epochs,
            reward_per_epoch=ETHER,
            rule=RULES[opts.rule],
            committee_size=opts.committee,
            seed=opts.seed,
            shared_shards=opts.nodes if opts.data_mode == "shared" else 0,
            validation=data.held,
        )
    )


def _run(
    opts: DemoOptions,
    work: Path,
    on_round: Callable[[RoundRow, int], None] | None,
    attach: DemoAttach | None,
    stop: threading.Event | None,
) -> DemoReport:
    import torch

    from milon_app.harness import LocalFederation
    from milon_app.node.build import NodeOptions
    from milon_app.node.transports import transport_factory

    t0 = time.monotonic()
    torch.manual_seed(opts.seed)
    data = _data(opts)
    heap.warm_up()  # the first optimizer's imports now, not in the first round's training
    chain = _chain(opts, attach)
    # every host listens on 127.0.0.1, reachable by all the others: no dial-back checks, no
    # relay service (each would cost every host CPU for nothing)
    make = transport_factory(opts.transport, chain.suite, chain.bus, nat=("public", "off"))
    local = LocalFederation(chain.suite, chain.bus, make, work)
    try:
        test_xy = (data.work_load.data.x_test, data.work_load.data.y_test)
        owner_opts = NodeOptions(roles=("owner", "keeper"), eval_data=test_xy)
        # contributors bootstrap from the owner, who serves the job's specs
        owner = local.start(local.build(chain.owner, "owner", owner_opts))
        bootstrap = owner.transport.listen_addrs()
        nodes = [
            local.build(acct, f"node{i}", _member_options(opts, data, i), bootstrap)
            for i, acct in enumerate(chain.members)
        ]
        fed = owner.milon.create_federation(
            chain.owner, "demo-federation", b"\x00" * 32, 10 * ETHER
        )
        capacities = [100 * (i + 1) for i in range(opts.nodes)]  # machines of different speed
        for node, cap in zip(nodes, capacities, strict=True):
            check_stop(stop)
            local.enrol(
                node, funder=chain.owner, milon=1_000 * ETHER, fed_id=fed, stake=50 * ETHER,
                capacity=cap, bootstrap=bootstrap,
            )  # fmt: skip
        report = DemoReport(
            options={k: str(v) if isinstance(v, Path) else v for k, v in opts.__dict__.items()},
            nodes=[
                {"address": nd.address, "capacity": c, "behaviour": nd.behaviour.name}
                for nd, c in zip(nodes, capacities, strict=True)
            ],
            job_id=_create_job(opts, owner, fed, data),
        )
        report.model, report.dataset = data.work_load.describe()
        stake_before = stakes(nodes, fed)
        try:
            report.rounds = run_rounds(
                chain.client, owner, nodes, report.job_id, opts.rounds, on_round, stop
            )
        except DemoStopped:
            cancel_if_idle(owner, report.job_id)  # the app is closing: end what can be ended
            raise
        _finish(opts, report, chain, data, (owner, nodes), fed, stake_before, stop)
    finally:
        local.close()
    report.total_gas = chain.client.gas_used_total
    report.wall_seconds = time.monotonic() - t0
    return report


def _finish(
    opts: DemoOptions,
    report: DemoReport,
    chain: _Chain,
    data: _Data,
    cast: tuple[NodeCore, list[NodeCore]],
    fed: int,
    stake_before: dict[str, int],
    stop: threading.Event | None,
) -> None:
    """Claims and slashes of the demo's rounds, the job ended (a round a keeper opened past
    the last is finished, then the rest refunded: before governance moves chain time), the
    governance cycle and the centralized baseline."""
    owner, nodes = cast
    report.rewards, report.slashed = settle(nodes, fed, stake_before)
    end_job(chain.client, owner, [*nodes, owner], report.job_id, stop)
    report.final_accuracy = report.rounds[-1].accuracy if report.rounds else None
    report.privacy = privacy_report(data.work_load.spec.privacy, opts.rounds, report.rounds)
    if data.work_load.spec.privacy.mode == "dp-sgd":
        report.privacy.update(sgd_report(data.work_load.spec.privacy, chain.bus, report.job_id))
    check_stop(stop)
    if opts.governance:
        report.governance = govern(chain.suite, chain.owner, chain.members)
    check_stop(stop)
    if opts.baseline:
        base_epochs = max(1, round(opts.epochs * opts.rounds / opts.nodes))
        d = data.work_load.data
        # one machine runs base_epochs: its dp-sgd noise is sized for them, not the members'
        spec = data.work_load.spec
        central = spec.with_privacy(replace(spec.privacy, max_epochs=0))
        report.centralized_accuracy = baseline_accuracy(
            central, data.train, (d.x_test, d.y_test), base_epochs, opts.seed
        )
