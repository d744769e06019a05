"""A federation invite: one string that says where a federation lives.

Format: ``milon://join/`` followed by the unpadded base64url of a compact JSON
object (sorted keys, no spaces) holding ``v`` (version), ``chain_id``, ``rpc``
(RPC URLs), ``contracts`` (every suite address, so no manifest fetch is
needed), ``deployed_block``, ``deployer``, ``dev``, ``fed`` (federation id),
``bootstrap`` (peer multiaddrs) and ``sha256``: the hex SHA-256 of the same
JSON without ``sha256``. The checksum catches corruption and truncation, not a
malicious sender: whoever writes an invite computes a matching checksum. Trust
comes from checking the chain itself when joining (chain id, code at every
address, the federation existing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.chain.manifest import Manifest
from milon_app.compute.bounded_json import loads_bounded
from milon_app.errors import BadInputError

INVITE_VERSION = 1
PREFIX = "milon://join/"
MAX_INVITE_CHARS = 8192
MAX_URLS = 8
MAX_BOOTSTRAP = 16
MAX_ITEM_CHARS = 512
MAX_FED_ID = 2**64 - 1
_KEYS = {"v", "chain_id", "rpc", "contracts", "deployed_block", "deployer", "dev", "fed"}
_KEYS |= {"bootstrap", "sha256"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_URL = re.compile(r"https?://[^\s/?#]+(/[^\s]*)?")
_MULTIADDR = re.compile(r"/[^\s]*/p2p/[1-9A-HJ-NP-Za-km-z]+")


@dataclass(frozen=True)
class Invite:
    """What a joining node needs: the deployment, its RPC(s), the federation, peers to dial."""

    manifest: Manifest
    rpc_urls: tuple[str, ...]
    federation: int
    bootstrap: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "v": INVITE_VERSION,
            "chain_id": m.chain_id,
            "rpc": list(self.rpc_urls),
            "contracts": {name: m.contracts[name] for name in CONTRACT_NAMES},
            "deployed_block": m.deployed_block,
            "deployer": m.deployer,
            "dev": m.dev,
            "fed": self.federation,
            "bootstrap": list(self.bootstrap),
        }

    def encode(self) -> str:
        """The invite string; refuses what :func:`parse_invite` would refuse."""
        body = self.body()
        _check_body(body)
        data = dict(body, sha256=checksum(body))
        raw = canonical(data).encode("ascii")
        text = PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if len(text) > MAX_INVITE_CHARS:
            raise BadInputError(f"invite would be {len(text)} characters, over {MAX_INVITE_CHARS}")
        return text


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def checksum(body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of everything but ``sha256``."""
    rest = {k: v for k, v in body.items() if k != "sha256"}
    return hashlib.sha256(canonical(rest).encode("ascii")).hexdigest()


def decode_body(text: str) -> dict[str, Any]:
    """The JSON object inside an invite string, checksum not yet checked."""
    text = text.strip()
    if len(text) > MAX_INVITE_CHARS:
        raise BadInputError(
            f"invite is {len(text)} characters, over the limit of {MAX_INVITE_CHARS}"
        )
    if not text.startswith(PREFIX):
        raise BadInputError(f"invite must start with {PREFIX!r} (got {text[:20]!r}...)")
    payload = text[len(PREFIX) :]
    if not payload:
        raise BadInputError("invite has nothing after 'milon://join/'")
    if not _B64URL.fullmatch(payload):
        raise BadInputError("invite holds characters outside base64url (A-Z a-z 0-9 - _)")
    if len(payload) % 4 == 1:
        raise BadInputError("invite is truncated: its base64url length is impossible")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"invite is not valid base64url: {exc}") from None
    try:
        data = loads_bounded(raw, max_bytes=MAX_INVITE_CHARS, max_depth=3, what="invite content")
    except BadInputError as exc:
        raise BadInputError(f"invite is truncated or corrupted: {exc}") from None
    if not isinstance(data, dict):
        raise BadInputError("invite content is not a JSON object")
    return data


def parse_invite(text: str) -> Invite:
    """Strict: bounded size, known keys only, checksum first, every field checked."""
    data = decode_body(text)
    given = data.get("sha256")
    if not isinstance(given, str):
        raise BadInputError("invite has no 'sha256' checksum")
    if given != checksum(data):
        raise BadInputError(
            "invite checksum does not match its content: it was corrupted or edited"
        )
    _check_body(data)
    manifest = Manifest.from_dict(
        {
            "version": 1,
            "chain_id": data["chain_id"],
            "contracts": data["contracts"],
            "deployed_block": data["deployed_block"],
            "deployer": data["deployer"],
            "dev": data["dev"],
        },
        origin="invite",
    )
    return Invite(manifest, tuple(data["rpc"]), data["fed"], tuple(data["bootstrap"]))


def _check_body(data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise BadInputError(f"invite has an unknown field {unknown[0]!r}")
    missing = sorted(_KEYS - {"sha256"} - set(data))
    if missing:
        raise BadInputError(f"invite has no {missing[0]!r} field")
    if data["v"] != INVITE_VERSION:
        raise BadInputError(f"invite version {data['v']!r} is not supported (expected 1)")
    fed = data["fed"]
    if type(fed) is not int or not 1 <= fed <= MAX_FED_ID:
        raise BadInputError(f"invite federation id must be a whole number >= 1, got {fed!r}")
    contracts = data["contracts"]
    if not isinstance(contracts, dict) or set(contracts) != set(CONTRACT_NAMES):
        raise BadInputError(
            f"invite 'contracts' must name exactly {', '.join(sorted(CONTRACT_NAMES))}"
        )
    _strings(data["rpc"], "rpc", MAX_URLS, _URL, "an http(s) URL", minimum=1)
    _strings(data["bootstrap"], "bootstrap", MAX_BOOTSTRAP, _MULTIADDR, "a multiaddr .../p2p/ID")


def _strings(
    value: Any, key: str, most: int, pattern: re.Pattern[str], what: str, minimum: int = 0
) -> None:
    if not isinstance(value, list) or not minimum <= len(value) <= most:
        raise BadInputError(f"invite {key!r} must be a list of {minimum}..{most} entries")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_ITEM_CHARS:
            raise BadInputError(f"invite {key!r} entry is not text of at most {MAX_ITEM_CHARS}")
        if not pattern.fullmatch(item):
            raise BadInputError(f"invite {key!r} entry {item!r} is not {what}")
    if len(set(value)) != len(value):
        raise BadInputError(f"invite {key!r} lists an entry twice")
