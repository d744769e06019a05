"""``milon fed invite ID`` and ``milon join INVITE``: another network in one string.

The invite (:mod:`milon_app.chain.invite`) carries the deployment, its RPC
URL(s), the federation and peers to dial. Joining trusts nothing in it until
the chain agrees: every RPC must answer with the invite's chain id, every
contract address must hold code, the federation must exist. Only then are the
manifest and the config's chain/p2p settings written, and a setting the config
already gives another value is refused by name unless ``--force``: a refused
invite leaves the data folder and the config exactly as they were. Those rules
are :mod:`milon_app.session.invite_join`'s, shared with the desktop app.
"""

from __future__ import annotations

import argparse

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_fed import existing_fed, fed_id_arg, milon_of
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import ConfigError, MilonError

# ---------------------------------------------------------------- fed invite


def _configure_invite(p: argparse.ArgumentParser) -> None:
    fed_id_arg(p)
    p.add_argument(
        "--public-rpc",
        action="append",
        default=[],
        metavar="URL",
        help="RPC URL the invitee uses (repeat for several; default: the RPC this command "
        "uses, then config chain.rpc_urls)",
    )
    p.add_argument(
        "--bootstrap",
        action="append",
        default=[],
        metavar="ADDR",
        help="peer multiaddr .../p2p/ID the invitee dials (repeat; default: the running "
        "daemon's addresses, as `milon status --bootstrap-line` shows them)",
    )
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "fed",
    "invite",
    summary="print a one-line invite to a federation (`milon join INVITE` uses it)",
    configure=_configure_invite,
)
def _invite(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.invite import Invite

    m = milon_of(ctx, args)
    fed_id = existing_fed(m, args.fed_id)
    urls = list(args.public_rpc) or [str(m.client.rpc_url), *ctx.config.chain.rpc_urls]
    bootstrap = list(args.bootstrap) or _daemon_bootstrap(ctx)
    invite = Invite(m.suite.manifest, tuple(dict.fromkeys(urls)), fed_id, tuple(bootstrap))
    text = invite.encode()
    data = {"invite": text, **{k: v for k, v in invite.body().items() if k != "contracts"}}
    ctx.emit(data, lambda d: str(d["invite"]))
    return 0


def _daemon_bootstrap(ctx: Context) -> list[str]:
    from milon_app.daemon.control import query_status

    try:
        addrs = query_status(ctx.data_dir, timeout_s=3.0).get("bootstrap") or []
    except MilonError:
        addrs = []
    if not addrs:
        ctx.info(
            "no running daemon publishes addresses: the invite has no bootstrap peers "
            "(pass --bootstrap ADDR)"
        )
    return [str(a) for a in addrs]


# ---------------------------------------------------------------- join


def _configure_join(p: argparse.ArgumentParser) -> None:
    p.add_argument("invite", metavar="INVITE", help="the milon://join/... string")
    p.add_argument("--stake", metavar="AMOUNT", help="stake in MILON (default: the minimum)")
    p.add_argument("--capacity", metavar="N", help="capacity score (default: benchmark now)")
    p.add_argument("--peer-info", default="", metavar="STR", help="multiaddr(s) to reach you")
    p.add_argument(
        "--benchmark-seconds",
        type=float,
        default=2.5,
        metavar="S",
        help="benchmark length when --capacity is not given (default 2.5)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace chain/p2p settings the config already gives other values",
    )
    p.add_argument(
        "--configure-only",
        action="store_true",
        help="check the invite and write the settings, but do not join",
    )
    S.add_account_args(p)


@REGISTRY.command(
    "join",
    summary="join a federation from an invite: check it on chain, configure, stake",
    configure=_configure_join,
)
def _join_invite(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.invite import parse_invite
    from milon_app.config import save_config
    from milon_app.session import invite_join as J

    invite = parse_invite(args.invite)
    config_file = ctx.config_path or ctx.paths.config_file
    if config_file.suffix == ".toml":
        raise ConfigError(
            f"{config_file} is TOML, which `milon join` does not rewrite: use a JSON config "
            "(or --home), or `milon join --configure-only` with one, and copy its settings"
        )
    from milon_app.cli.cmd_fed_member import join_federation, parse_capacity

    if args.stake is not None:  # refused before anything is checked or written
        S.parse_amount(args.stake, "--stake")
    if args.capacity is not None:
        parse_capacity(args.capacity)
    min_stake = J.check_on_chain(invite)
    manifest_file = J.manifest_file(ctx.data_dir, invite)
    cfg = J.configured(ctx.config, invite, manifest_file, force=args.force)
    J.check_manifest_free(invite, manifest_file, force=args.force)
    invite.manifest.save(manifest_file)
    save_config(cfg, config_file)
    ctx.reload_config()  # the cached config is the one just replaced
    ctx.info(f"configured {config_file} for chain {invite.manifest.chain_id} ({cfg.chain.rpc_url})")
    if args.configure_only:
        data = {
            "config": str(config_file),
            "manifest": str(manifest_file),
            "federation": invite.federation,
        }
        ctx.emit(data, lambda d: f"configured; join with `milon fed join {d['federation']}`")
        return 0
    join_args = argparse.Namespace(
        fed_id=str(invite.federation),
        stake=args.stake or S.format_amount(min_stake),
        capacity=args.capacity,
        peer_info=args.peer_info,
        benchmark_seconds=args.benchmark_seconds,
        rpc=None,
        manifest=None,
        dev_account=args.dev_account,
        keystore=args.keystore,
        secret_store=args.secret_store,
        password_file=args.password_file,
    )
    return join_federation(join_args, ctx)
