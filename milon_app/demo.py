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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milon_app.chain.bindings import DEPLOYED_COMMITTEE, AggregationRule
from milon_app.demo_rounds import RoundRow, round_row
from milon_app.errors import BadInputError
from milon_app.federation.types import RULE_NAMES
from milon_app.node.behaviour import ATTACKS

__all__ = ["DemoAttach", "DemoOptions", "DemoReport", "RoundRow", "run_demo"]

ETHER = 10**18
RULES = {name: AggregationRule(rule_id) for name, rule_id in RULE_NAMES.items()}


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

    def check(self) -> None:
        if not 2 <= self.nodes <= 64:
            raise BadInputError(f"--nodes must be in 2..64, got {self.nodes}")
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


def model_for(dataset: str, n_features: int, n_classes: int) -> Any:
    from milon_app.compute.model_spec import digits_mlp, tabular_mlp

    return digits_mlp() if dataset == "digits" else tabular_mlp(n_features, n_classes)


def run_demo(
    opts: DemoOptions,
    on_round: Callable[[RoundRow, int], None] | None = None,
    *,
    attach: DemoAttach | None = None,
) -> DemoReport:
    opts.check()
    if opts.workdir is not None:
        return _run(opts, opts.workdir, on_round, attach)
    with tempfile.TemporaryDirectory(prefix="milon-demo-") as tmp:
        return _run(opts, Path(tmp), on_round, attach)


def _run(
    opts: DemoOptions,
    work: Path,
    on_round: Callable[[RoundRow, int], None] | None,
    attach: DemoAttach | None = None,
) -> DemoReport:
    import torch

    from milon_app.chain.client import EMBEDDED, ChainClient
    from milon_app.chain.deploy import deploy_suite
    from milon_app.compute.partition import parse_partition, split_clients
    from milon_app.compute.trainer import evaluate, train
    from milon_app.demo_data import load_workload
    from milon_app.node.behaviour import HONEST, Behaviour
    from milon_app.node.build import NodeOptions, build_node
    from milon_app.node.bus import EventBus
    from milon_app.node.core import NodeCore, TensorData
    from milon_app.node.owner import JobRequest
    from milon_app.node.transports import transport_factory
    from milon_app.node.validation_data import split_holdout

    t0 = time.monotonic()
    torch.manual_seed(opts.seed)
    n = opts.nodes
    work_load = load_workload(opts.model, opts.dataset, opts.seed)  # mismatches end here
    spec, dspec, data = work_load.spec, work_load.dataset, work_load.data
    if attach is not None:
        suite, client, pool = attach.suite, attach.suite.client, attach.accounts
    elif opts.chain == EMBEDDED:
        client = ChainClient.embedded()
        pool = client.dev_accounts
    else:
        client = ChainClient.connect(opts.chain, dev_accounts=n + 1)
        pool = client.dev_accounts
    if len(pool) < n + 1:
        raise BadInputError(f"the chain offers {len(pool)} dev accounts, need {n + 1}")
    owner_acct, accts = pool[0], pool[1 : n + 1]
    if attach is None:
        suite = deploy_suite(client, owner_acct, dev=True)

    x_train, y_train = data.x_train, data.y_train
    held = None  # the owner's validation samples: never in any member's data
    if opts.validation == "owner":
        (x_train, y_train), held = split_holdout(x_train, y_train, opts.seed)
    parts = split_clients(parse_partition(opts.partition), y_train.numpy(), n, opts.seed)

    bus = attach.bus if attach is not None else EventBus(history=20_000)
    started: list[NodeCore] = []
    shared = opts.data_mode == "shared"
    try:
        make = transport_factory(opts.transport, suite, bus)
        owner_opts = NodeOptions(roles=("owner", "keeper"), eval_data=(data.x_test, data.y_test))
        owner = build_node(owner_acct, suite, bus, work / "owner", make, owner_opts)
        owner.start()  # contributors bootstrap from the owner, who serves the job's specs
        started.append(owner)
        bootstrap = owner.transport.listen_addrs()
        nodes: list[NodeCore] = []
        capacities = [100 * (i + 1) for i in range(n)]  # simulated machines of different speed
        for i, acct in enumerate(accts):
            byz = i >= n - opts.byzantine
            idx = torch.as_tensor(parts[i])
            member = NodeOptions(
                data=None if shared else TensorData(x_train[idx], y_train[idx]),
                threads=1,
                behaviour=Behaviour(opts.attack, seed=i) if byz else HONEST,
            )
            root = work / f"node{i}"
            nodes.append(build_node(acct, suite, bus, root, make, member, bootstrap=bootstrap))
        stake = 50 * ETHER
        fed = owner.milon.create_federation(owner_acct, "demo-federation", b"\x00" * 32, 10 * ETHER)
        for node, cap in zip(nodes, capacities, strict=True):
            owner.milon.transfer(owner_acct, node.address, 1_000 * ETHER)
            node.start()
            started.append(node)
            for addr in bootstrap:  # dial now rather than racing the background bootstrap
                node.transport.connect(addr)
            peer_info = " ".join(node.transport.listen_addrs()) or f"inprocess:{node.address}"
            node.join(fed, stake, cap, peer_info)
        reward = ETHER
        job_id = owner.owner.create_job(
            JobRequest(
                fed_id=fed,
                spec=spec,
                dataset=dspec,
                total_epochs=opts.rounds * opts.epochs,
                epochs_per_round=opts.epochs,
                reward_per_epoch=reward,
                rule=RULES[opts.rule],
                committee_size=opts.committee,
                seed=opts.seed,
                shared_shards=n if shared else 0,
                validation=held,
            )
        )
        report = DemoReport(
            options={k: str(v) if isinstance(v, Path) else v for k, v in opts.__dict__.items()},
            nodes=[
                {"address": nd.address, "capacity": c, "behaviour": nd.behaviour.name}
                for nd, c in zip(nodes, capacities, strict=True)
            ],
            job_id=job_id,
        )
        report.model, report.dataset = work_load.describe()
        everyone = [*nodes, owner]
        slashed_before = {nd.address: nd.milon.member(fed, nd.address).stake for nd in nodes}
        for r in range(1, opts.rounds + 1):
            gas0, rt0, block0 = client.gas_used_total, time.monotonic(), client.block_number()
            _drive_round(client, everyone, owner, job_id, r)
            results = {rr[0]: rr[2] for rr in owner.state.round_results(job_id)}
            row = round_row(
                owner.milon,
                job_id,
                r,
                [nd.address for nd in nodes],
                results.get(r),
                client.gas_used_total - gas0,
                time.monotonic() - rt0,
                block0,
            )
            report.rounds.append(row)
            if on_round:
                on_round(row, opts.rounds)
        for nd in nodes:
            report.rewards[nd.address] = nd.milon.claimable(nd.address)
            if report.rewards[nd.address]:
                nd.milon.claim(nd.account)
            report.slashed[nd.address] = (
                slashed_before[nd.address] - nd.milon.member(fed, nd.address).stake
            )
        report.final_accuracy = report.rounds[-1].accuracy if report.rounds else None
        if opts.governance:
            report.governance = _govern(suite, owner_acct, accts)
        if opts.baseline:  # the same model and data, trained on one machine
            base_epochs = max(1, round(opts.epochs * opts.rounds / n))
            central = train(
                spec,
                None,
                (x_train, y_train),
                epochs=base_epochs,
                seed=opts.seed,
                threads=None,
            )
            _, report.centralized_accuracy = evaluate(spec, central.state, data.x_test, data.y_test)
    finally:
        for nd in started:
            nd.stop()
            nd.state.close()
    report.total_gas = client.gas_used_total
    report.wall_seconds = time.monotonic() - t0
    return report


def _govern(suite: Any, owner_acct: Any, accts: list[Any]) -> dict[str, Any]:
    """Everyone delegates to themselves, then a parameter change passes and is executed."""
    from milon_app.chain.governance import Governance

    gov = Governance(suite)
    for acct in [owner_acct, *accts]:
        gov.delegate(acct)
    call = gov.set_parameter("slash-bps", 1_500, "Raise the slash fraction to 15%")
    pid, state = gov.pass_proposal(owner_acct, [owner_acct, *accts], call)
    return {
        "proposal_id": str(pid),
        "state": state.name.lower(),
        "description": call.description,
        "slash_bps_after": int(suite.client.call(suite.registry.functions.slashBps())),
    }


def _drive_round(client: Any, everyone: list[Any], owner: Any, job_id: int, r: int) -> None:
    """Tick every node until round ``r`` closes; on dev chains, skip idle waits by moving time."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        block0 = client.block_number()
        busy = False
        for nd in everyone:
            busy = nd.tick() or busy
        job = owner.milon.job(job_id)
        if job.current_round >= r:
            rnd = owner.milon.round(job_id, r)
            if rnd.finalized or rnd.timed_out:
                owner.tick()  # the owner records the round's accuracy and opens the next
                return
        if busy:
            time.sleep(0.01)
        elif client.block_number() == block0:  # nobody could act: wait for a deadline
            if client.is_dev:
                client.increase_time(60)
            else:
                time.sleep(1.0)
    raise TimeoutError(f"round {r} of job {job_id} did not close within 600 s")
