"""The deployment manifest: where the suite lives on a chain.

A node attaches to a deployment through its manifest; attaching checks the
chain id and that code exists at every address, so a manifest for another
chain fails loudly instead of sending transactions into the void.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.errors import BadInputError, NotFoundError
from milon_app.util.atomic import atomic_write_text

MANIFEST_VERSION = 1


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
            if not (isinstance(addr, str) and addr.startswith("0x") and len(addr) == 42):
                raise BadInputError(f"{origin}: contract {name!r} has no valid address")
        for key, typ in (("chain_id", int), ("deployed_block", int), ("deployer", str)):
            if not isinstance(data.get(key), typ) or isinstance(data.get(key), bool):
                raise BadInputError(f"{origin}: field {key!r} missing or not {typ.__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadInputError(f"{origin}: unknown field {unknown[0]!r}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"deployment manifest {path} not found (run `milon devnet` or `milon deploy`)"
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"manifest {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, origin=f"manifest {path}")
