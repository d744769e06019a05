"""``milon demo``: the main job, a whole federation on the embedded chain in one process."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.privacy_args import add_dp_arguments, privacy_from_args, privacy_text
from milon_app.cli.registry import REGISTRY
from milon_app.compute.privacy_spec import NO_PRIVACY

ETHER = 10**18


def _configure(p: argparse.ArgumentParser) -> None:
    from milon_app.compute.model_spec import BUILTIN_MODELS
    from milon_app.federation.types import RULE_NAMES
    from milon_app.node.behaviour import ATTACKS

    p.add_argument("--nodes", type=int, default=4, help="contributors (default 4)")
    p.add_argument("--rounds", type=int, default=8, help="training rounds (default 8)")
    p.add_argument(
        "--epochs-per-round",
        type=int,
        default=0,
        help="epochs split per round by capacity (default 5 x nodes)",
    )
    p.add_argument("--rule", choices=list(RULE_NAMES), default="fedavg", help="aggregation rule")
    p.add_argument("--byzantine", type=int, default=0, help="how many contributors attack")
    p.add_argument("--attack", choices=ATTACKS, default="signflip", help="what they do")
    p.add_argument(
        "--dataset",
        default="digits",
        metavar="DATA",
        help="digits (default), wine, breast_cancer, a dataset spec JSON file (NPZ, CSV, image "
        "folder), an .npz file or a folder of images, one subfolder per class",
    )
    p.add_argument(
        "--model",
        default="",
        metavar="NAME|PATH",
        help=f"a built-in model spec ({', '.join(sorted(BUILTIN_MODELS))}) or a model spec JSON "
        "file (default: digits_mlp on digits, a small MLP sized to other data)",
    )
    p.add_argument("--chain", default="embedded", help="'embedded' or a devnet RPC URL")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--data-mode",
        choices=("federated", "shared"),
        default="federated",
        help="federated: each node trains on its own data; shared: on the owner's shards",
    )
    p.add_argument(
        "--committee",
        type=int,
        default=0,
        help="validator committee size, 3..31 (default: the governed default, 7, or all members)",
    )
    p.add_argument(
        "--partition",
        default="iid",
        help="how members' data is split: iid (default), dirichlet:ALPHA (label skew, e.g. "
        "dirichlet:0.3) or shards:K (K label-sorted shards each)",
    )
    p.add_argument(
        "--validation",
        choices=("owner", "local"),
        default="owner",
        help="what the committee judges updates on: validation samples the owner publishes "
        "(default) or a held-out share of each member's own data",
    )
    p.add_argument(
        "--transport",
        choices=("libp2p", "inprocess"),
        default="libp2p",
        help="libp2p hosts on 127.0.0.1 (default) or an in-process hub (for tests)",
    )
    add_dp_arguments(p)


def _short(addr: str) -> str:
    return addr[:6] + "…" + addr[-4:]


def _render(data: dict[str, Any]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=120, force_terminal=False)
    nodes = data["nodes"]
    model, dataset = data["model"], data["dataset"]
    table = Table(
        title=f"MILON demo — job {data['job_id']}, {model['name']} on {dataset['name']}, "
        f"rule {data['options']['rule']}"
    )
    table.add_column("round", justify="right")
    table.add_column("global acc.", justify="right")
    for nd in nodes:
        tag = "" if nd["behaviour"] == "honest" else f" ({nd['behaviour']})"
        table.add_column(f"{_short(nd['address'])}\ncap {nd['capacity']}{tag}", justify="right")
    table.add_column("accepted", justify="right")
    table.add_column("gas", justify="right")
    for row in data["rounds"]:
        cells = []
        for nd in nodes:
            a = nd["address"]
            mark = "✗" if a in row["rejected"] else ("✓" if a in row["accepted"] else "·")
            cells.append(f"{row['epochs'][a]} ep {mark} +{row['rewards'][a] / ETHER:g}")
        acc = row["accuracy"]
        table.add_row(
            str(row["round"]),
            f"{acc:.2%}" if acc is not None else "-",
            *cells,
            f"{len(row['accepted'])}/{len(nodes)}",
            f"{row['gas_used']:,}",
        )
    console.print(table)
    for row in data["rounds"]:
        seats = ", ".join(_short(c["address"]) for c in row["committee"])
        paid = sum(row["validator_rewards"].values()) / ETHER
        console.print(
            f"  round {row['round']}: {row['outcome']}; committee {seats}; validators paid {paid:g}"
        )
        for who, why in sorted(row["rejected"].items()):
            console.print(f"  round {row['round']}: {_short(who)}: {why}")
    console.print(
        f"model    {model['name']}: {model['params']:,} parameters, input {model['input_shape']}",
        markup=False,
    )
    console.print(
        f"dataset  {dataset['name']} ({dataset['kind']}): {dataset['train_samples']:,} training / "
        f"{dataset['test_samples']:,} test samples, {dataset['num_classes']} classes",
        markup=False,
    )
    final, central = data["final_accuracy"], data["centralized_accuracy"]
    console.print(f"final accuracy        {final:.2%}" if final is not None else "final accuracy -")
    console.print(f"centralized baseline  {central:.2%}  (same model and data on one machine)")
    for nd in nodes:
        a = nd["address"]
        console.print(
            f"  {_short(a)}  claimed {data['rewards'][a] / ETHER:g} MILON"
            f"  slashed {data['slashed'][a] / ETHER:g} MILON"
        )
    gov = data["governance"]
    console.print(
        f"governance: '{gov['description']}' -> {gov['state']} "
        f"(slash fraction now {gov['slash_bps_after'] / 100:g}%)"
    )
    console.print(f"privacy: {privacy_text(data['privacy'])}", markup=False)
    console.print(f"total gas {data['total_gas']:,}  wall time {data['wall_seconds']:.1f} s")
    return buf.getvalue()


@REGISTRY.command(
    "demo",
    summary="run a whole federation on the embedded chain: train, validate, pay, govern",
    configure=_configure,
)
def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.cli.progress import stderr_progress
    from milon_app.demo import DemoOptions, RoundRow, run_demo

    privacy = privacy_from_args(args) or NO_PRIVACY  # names the --dp option that is wrong
    opts = DemoOptions(
        nodes=args.nodes,
        rounds=args.rounds,
        epochs_per_round=args.epochs_per_round,
        rule=args.rule,
        byzantine=args.byzantine,
        attack=args.attack,
        dataset=args.dataset,
        model=args.model,
        chain=args.chain,
        seed=args.seed,
        transport=args.transport,
        data_mode=args.data_mode,
        committee=args.committee,
        partition=args.partition,
        validation=args.validation,
        dp=privacy.mode,
        dp_epsilon=privacy.epsilon,
        dp_delta=privacy.delta,
        dp_clip=privacy.clip,
        dp_max_epochs=privacy.max_epochs,
    )
    opts.check()
    with stderr_progress() as bar:
        task = bar.add_task("rounds", total=opts.rounds)

        def on_round(row: RoundRow, total: int) -> None:
            acc = f"{row.accuracy:.1%}" if row.accuracy is not None else "-"
            bar.update(task, advance=1, description=f"round {row.round}/{total} acc {acc}")

        report = run_demo(opts, on_round)
    data = asdict(report)
    ctx.emit(data, _render)
    return 0
