"""Typed configuration with defaults and descriptions.

The settings screen renders fields from the ``description`` metadata; the file
is JSON under the platform's config folder, written atomically. Unknown keys
and wrongly typed values are refused with the key named, never ignored; only
the keys a later version retired (:data:`RETIRED_KEYS`) are dropped, with a
log line, so files written by older versions still load.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError, ConfigError
from milon_app.util.atomic import atomic_write_text

log = logging.getLogger(__name__)
APP_NAME = "milon"
MAX_CONFIG_BYTES = 1 << 20
PASSWORD_FILE_STORE = "password-file"  # the secret store's name, not a secret  # noqa: S105
T = TypeVar("T")


def _f(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass
class ChainSettings:
    rpc_url: str = _f("embedded", "JSON-RPC URL of the chain, or 'embedded' for the in-process EVM")
    manifest: str = _f("", "Path of the deployment manifest (contract addresses); empty: default")
    expected_chain_id: int = _f(0, "Refuse to run if the RPC reports another chain id (0: any)")
    rpc_urls: list[str] = field(
        default_factory=list,
        metadata={
            "description": "More JSON-RPC URLs of the same chain, used when rpc_url fails; all "
            "must agree on the chain id and a recent block's hash before any is used"
        },
    )
    tx_resend_s: float = _f(
        0.0,
        "Seconds a transaction may stay unmined before it is sent again with the same nonce "
        "and fees raised by an eighth (0: about four blocks of the chain)",
    )
    tx_timeout_s: float = _f(
        120.0,
        "Seconds before the node gives up on a transaction none of whose versions was mined "
        "(its nonce is kept: the sender's next transaction replaces it)",
    )
    getlogs_max_blocks: int = _f(
        1_000,
        "The widest block range asked of eth_getLogs at once (narrowed further while the "
        "provider refuses)",
    )
    confirmations: int = _f(
        0,
        "Blocks a commit, reveal or vote must be buried under before the node counts it as "
        "done and moves on (0: at once, for devnets; public chains: see docs/cli.md)",
    )


@dataclass
class WalletSettings:
    keystore: str = _f("", "Path of the keystore file; empty: the default in the data folder")
    secret_store: str = _f(
        "os-keyring",
        "Where the keystore password is kept: os-keyring, encrypted-file, prompt, password-file",
    )
    password_file: str = _f("", "Password file (mode 0600) used when secret_store=password-file")


@dataclass
class ComputeSettings:
    device: str = _f("auto", "Training device: auto, cpu, cuda, cuda:N or mps")
    max_threads: int = _f(0, "CPU threads for training (0: all cores)")
    compile: bool = _f(
        False,
        "torch.compile each job's model before training (this machine's choice, not the "
        "job's; trains eagerly where it cannot compile)",
    )
    job_benchmark_s: float = _f(
        1.0,
        "Seconds of the capacity benchmark run on each new job's model, declared on chain for "
        "it (0: off, the capacity declared at join splits every job)",
    )


@dataclass
class P2PSettings:
    transport: str = _f("libp2p", "Peer transport: libp2p (inprocess exists only for tests)")
    listen: str = _f(
        "/ip4/127.0.0.1/tcp/0",
        "libp2p listen multiaddr (port 0: any free port; a taken port moves to a free one; "
        "0.0.0.0 publishes this machine's interface addresses)",
    )
    bootstrap: list[str] = field(
        default_factory=list,
        metadata={
            "description": "Full multiaddrs (.../p2p/<peer id>) of peers to dial at start: "
            "`milon status` on a running node prints its line"
        },
    )
    announce: list[str] = field(
        default_factory=list,
        metadata={
            "description": "Multiaddrs to publish (on chain, in status) instead of the listen "
            "ones, e.g. a router's public address with a forwarded port"
        },
    )
    mdns: bool = _f(
        True,
        "Find MILON peers on this LAN segment by multicast DNS and connect to them; announces "
        "this node's peer ID and LAN addresses there (off in tests and simulations; "
        "MILON_MDNS=0 turns it off for one run)",
    )
    reachability: str = _f(
        "auto",
        "How peers reach this node: public, private (behind NAT: reserve a slot on the "
        "bootstrap peers and publish the relayed address), or auto (peers dial it back: "
        "public when 2 of up to 3 reach it, 1 when it has one peer; docs/p2p.md)",
    )
    relay: str = _f(
        "auto",
        "Serve other nodes as a circuit relay v2: on, off, or auto (when public); limits in "
        "docs/p2p.md",
    )
    dht: bool = _f(
        True,
        "Kademlia provider records: provide every blob this node serves and look up providers "
        "no peer announced (SERVER mode when public, CLIENT when private; docs/p2p.md)",
    )

    def __post_init__(self) -> None:
        from milon_app.p2p.reachability import REACHABILITY, RELAY, check_setting

        try:  # a config file's mistake: ConfigError, as for every other key
            check_setting("p2p.reachability", self.reachability, REACHABILITY)
            check_setting("p2p.relay", self.relay, RELAY)
        except BadInputError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class NodeSettings:
    data_dir: str = _f("", "Folder for the node's blobs and state; empty: the platform data folder")
    roles: list[str] = field(
        default_factory=lambda: ["contributor", "validator", "keeper"],
        metadata={"description": "Roles: contributor, validator, keeper, owner"},
    )
    accept_mode: str = _f("auto", "Assigned epochs: auto (within limits), manual, never")
    max_epochs: int = _f(10_000, "Decline assignments of more epochs than this")
    work_hours: list[int] = field(
        default_factory=list,
        metadata={"description": "Accept work only between these local hours [start, end]"},
    )
    dataset: str = _f("digits", "Local training data: a built-in name or a dataset-spec JSON file")
    partition: str = _f("", "Use only part i of n of the local data, as 'i/n' (simulations)")
    status_port: int = _f(0, "Loopback port of the status channel (0: pick a free one)")
    poll_interval_s: float = _f(1.0, "Seconds between node ticks")
    batching: bool = _f(
        True,
        "Batch commits and reveals through the job owner's node (about half the gas); a member "
        "still sends its own when the batch does not land in time. Off: always send our own, "
        "and batch nobody's as an owner",
    )
    attack: str = _f(
        "", "Robustness tests only: misbehave as signflip, noise, labelflip, lazy or noshow"
    )

    def hours(self) -> tuple[int, int] | None:
        """``work_hours`` as the accept policy takes it (the policy checks the range)."""
        if not self.work_hours:
            return None
        if len(self.work_hours) != 2:
            raise ConfigError("node.work_hours must be [start, end]")
        return (self.work_hours[0], self.work_hours[1])


@dataclass
class PrivacySettings:
    max_epsilon: float = _f(
        0.0,
        "Differential privacy ceiling per job: decline a round of a client-dp job that would "
        "take this node's epsilon spent on it past this (0: no ceiling; the job's own target "
        "still holds)",
    )


@dataclass
class FederationMembership:
    id: int = _f(0, "Federation to join at start")
    stake: str = _f("0", "Stake in MILON (decimal)")
    capacity: int = _f(0, "Capacity score to register (0: run the benchmark)")


@dataclass
class Config:
    chain: ChainSettings = field(default_factory=ChainSettings)
    wallet: WalletSettings = field(default_factory=WalletSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    p2p: P2PSettings = field(default_factory=P2PSettings)
    node: NodeSettings = field(default_factory=NodeSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    federations: list[FederationMembership] = field(
        default_factory=list, metadata={"description": "Federations to join at start"}
    )


@dataclass(frozen=True)
class Paths:
    """Where MILON keeps its files. ``MILON_HOME`` puts everything under one folder."""

    config_dir: Path
    data_dir: Path

    @classmethod
    def default(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        root = home or os.environ.get("MILON_HOME")
        if root:
            base = Path(root)
            return cls(config_dir=base / "config", data_dir=base / "data")
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"


def describe(cfg: Config) -> list[tuple[str, Any, str]]:
    """(dotted key, value, description) for every setting: what a settings screen lists."""
    rows: list[tuple[str, Any, str]] = []
    for section in dataclasses.fields(cfg):
        obj = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(obj):
            rows.append((section.name, obj, section.metadata["description"]))
            continue
        for fld in dataclasses.fields(obj):
            rows.append(
                (f"{section.name}.{fld.name}", getattr(obj, fld.name), fld.metadata["description"])
            )
    return rows


def _check_type(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # a huge integer
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"config key {key!r}: expected a finite number, got {value!r:.40}")
        return number
    if origin in (list,):
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r}: expected a list, got {type(value).__name__}")
        if dataclasses.is_dataclass(item):
            return [_build(item, v, f"{key}[{i}].") for i, v in enumerate(value)]  # type: ignore[arg-type]
        return [_check_type(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"config key {key!r}: unsupported union type")
    if not isinstance(tp, type):
        return value
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(
            f"config key {key!r}: expected {tp.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


# Keys older versions wrote that mean nothing now: dropped on load (and gone from the file
# the next time it is saved). Dotted key -> what replaced it.
RETIRED_KEYS: dict[str, str] = {
    "chain.poll_interval_s": "it was never read: the node polls the chain once per tick, "
    "every node.poll_interval_s seconds",
}


def _build(cls: type[T], data: Any, prefix: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix or '<root>'!r}: expected an object")
    retired = {k for k in data if f"{prefix}{k}" in RETIRED_KEYS}
    for key in sorted(retired):
        log.info("config key %r is retired: %s", prefix + key, RETIRED_KEYS[prefix + key])
    data = {k: v for k, v in data.items() if k not in retired}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, f"{prefix}{name}.")  # type: ignore[arg-type]
        else:
            kwargs[name] = _check_type(prefix + name, value, tp)
    return cls(**kwargs)


def config_from_dict(data: Any) -> Config:
    return _build(Config, data, "")


def load_config(path: Path, *, missing_ok: bool = True) -> Config:
    """Read a JSON (settings screen) or TOML (daemon) config; a missing file means defaults."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES} bytes")
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Config()
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc}") from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    if path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except (RecursionError, ValueError) as exc:  # deep nesting, a 5000-digit integer
            raise ConfigError(f"config file {path} is not a usable TOML document: {exc}") from None
    else:
        try:  # bounded: depth, duplicate keys and NaN are refused before json recurses
            data = loads_bounded(raw, max_bytes=MAX_CONFIG_BYTES, max_depth=8, what="config")
        except BadInputError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    return config_from_dict(data)


def unused_settings(cfg: Config) -> list[str]:
    """Settings the file gives that another setting makes unused: each is a sentence saying
    which and why. Unknown keys never get this far (:func:`load_config` refuses them)."""
    found = []
    wallet = cfg.wallet
    by_file = wallet.secret_store == PASSWORD_FILE_STORE
    if wallet.password_file and not by_file:
        found.append(
            f"wallet.password_file is not used: wallet.secret_store is {wallet.secret_store!r} "
            '(secret_store = "password-file" reads the password from that file)'
        )
    if by_file and not wallet.password_file:
        found.append(
            'wallet.secret_store is "password-file" but wallet.password_file is empty: '
            "commands need --password-file or $MILON_WALLET_PASSWORD_FILE"
        )
    if cfg.p2p.bootstrap and cfg.p2p.transport != "libp2p":
        found.append(
            f"p2p.bootstrap is not used: p2p.transport is {cfg.p2p.transport!r}, not libp2p"
        )
    return found


def save_config(cfg: Config, path: Path) -> None:
    atomic_write_text(path, json.dumps(dataclasses.asdict(cfg), indent=2, sort_keys=True) + "\n")
