"""The deployment manifest: where the suite lives on a chain.

A node attaches to a deployment through its manifest; attaching checks the
chain id and that code exists at every address, so a manifest for another
chain fails loudly instead of sending transactions into the void.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError, NotFoundError
from milon_app.util.atomic import atomic_write_text

MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_OPTIONAL_TYPES: dict[str, type] = {"source_hash": str, "params": dict, "rpc_url": str}


@dataclass
class Manifest:
    chain_id: int
    contracts: dict[str, str]
    deployed_block: int
    deployer: str
    dev: bool
    source_hash: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    rpc_url: str = ""
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, data: Any, origin: str = "manifest") -> Manifest:
        if not isinstance(data, dict):
            raise BadInputError(f"{origin}: expected a JSON object")
        if data.get("version") != MANIFEST_VERSION:
            raise BadInputError(
                f"{origin}: unsupported manifest version {data.get('version')!r}"
                f" (expected {MANIFEST_VERSION})"
            )
        contracts = data.get("contracts")
        if not isinstance(contracts, dict):
            raise BadInputError(f"{origin}: 'contracts' must be an object of name -> address")
        for name in CONTRACT_NAMES:
            addr = contracts.get(name)
            if not (isinstance(addr, str) and _ADDRESS.fullmatch(addr)):
                raise BadInputError(f"{origin}: contract {name!r} has no valid address")
        for key, typ in (("chain_id", int), ("deployed_block", int), ("deployer", str)):
            if not isinstance(data.get(key), typ) or isinstance(data.get(key), bool):
                raise BadInputError(f"{origin}: field {key!r} missing or not {typ.__name__}")
        if type(data.get("dev")) is not bool:
            raise BadInputError(f"{origin}: field 'dev' missing or not true/false")
        if data["chain_id"] <= 0 or data["deployed_block"] < 0:
            raise BadInputError(f"{origin}: chain_id must be positive and deployed_block >= 0")
        if not _ADDRESS.fullmatch(data["deployer"]):
            raise BadInputError(f"{origin}: 'deployer' is not an address (0x + 40 hex digits)")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInputError(f"{origin}: unknown field {unknown[0]!r}")
        for key, want in _OPTIONAL_TYPES.items():
            if key in data and type(data[key]) is not want:
                raise BadInputError(f"{origin}: field {key!r} is not {want.__name__}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_MANIFEST_BYTES + 1)
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"deployment manifest {path} not found (run `milon devnet` or `milon deploy`)"
            ) from exc
        except OSError as exc:  # a folder, no permission
            raise BadInputError(f"manifest {path} cannot be read: {exc.strerror or exc}") from None
        try:  # bounded size and depth: a hostile file cannot recurse json into a crash
            data = loads_bounded(raw, max_bytes=MAX_MANIFEST_BYTES, max_depth=6, what="it")
        except BadInputError as exc:
            raise BadInputError(f"manifest {path}: {exc}") from None
        return cls.from_dict(data, origin=f"manifest {path}")
