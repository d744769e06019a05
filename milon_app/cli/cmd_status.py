"""``milon status``: ask the running daemon how it is doing, over loopback."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import NetworkError


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="the daemon's data folder (node.data_dir)")
    p.add_argument(
        "--bootstrap-line", action="store_true",
        help="print only the line other nodes put in their node.toml [p2p] to bootstrap from "
        "this one (`milon status --bootstrap-line >> other.toml`)",
    )  # fmt: skip


def _value(key: str, value: Any) -> str:
    """Amounts in MILON (the JSON's ``claimable`` is MILON too, ``claimable_wei`` the exact wei)."""
    if key in ("claimable", "rewards_credited"):
        return "unknown (not read from the chain yet)" if value is None else f"{value} MILON"
    return str(value)


def _reach_lines(reach: Any) -> list[str]:
    """How peers reach the node: public, via relay R, or direct after a hole punch."""
    if not isinstance(reach, dict):
        return []
    lines = [f"{'reached':<17} {reach.get('text') or reach.get('mode', '-')}"]
    if reach.get("relay_addr"):
        lines.append(f"{'relayed address':<17} {reach['relay_addr']}")
    return lines


def _render(d: dict[str, Any]) -> str:
    shown = {k: v for k, v in d.items() if not k.endswith("_wei")}
    own = ("peers", "listen_addrs", "bootstrap", "bootstrap_line", "reach")
    lines = [f"{k:<17} {_value(k, v)}" for k, v in shown.items() if k not in own]
    lines.append(f"{'listen':<17} {' '.join(d.get('listen_addrs') or []) or '-'}")
    lines += _reach_lines(d.get("reach"))
    if d.get("bootstrap_line"):
        lines.append("other nodes bootstrap from this one with, in their node.toml [p2p]:")
        lines.append(f"  {d['bootstrap_line']}")
    lines.append(f"{'peers':<17} {len(d.get('peers') or [])}")
    lines += [f"  {p}" for p in d.get("peers") or []]
    return "\n".join(lines)


@REGISTRY.command("status", summary="show a running daemon's state", configure=_configure)
def _status(args: argparse.Namespace, ctx: Context) -> int:
    """The daemon of this config: the one whose data folder is ``ctx.data_dir``, the config's
    ``node.data_dir`` (else the home's data folder), as ``milon --daemon`` resolves it."""
    from milon_app.daemon.control import query_status

    data = query_status(args.data_dir or ctx.data_dir)
    if args.bootstrap_line:
        if not data.get("bootstrap_line"):
            raise NetworkError("the daemon publishes no address yet (its peer is not listening)")
        ctx.out.write(f"{data['bootstrap_line']}\n")
        return 0
    ctx.emit(data, _render)
    return 0
