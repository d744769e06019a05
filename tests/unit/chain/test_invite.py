"""The invite string: round trip, and every malformed, edited or truncated form refused by name."""

from __future__ import annotations

import base64
import json

import pytest

from milon_app.chain.artifacts import CONTRACT_NAMES
from milon_app.chain.invite import (
    MAX_INVITE_CHARS,
    PREFIX,
    Invite,
    checksum,
    decode_body,
    parse_invite,
)
from milon_app.chain.manifest import Manifest
from milon_app.errors import BadInputError

PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"


def _invite(**over: object) -> Invite:
    manifest = Manifest(
        chain_id=31337,
        contracts={n: "0x" + f"{i + 1:040x}" for i, n in enumerate(CONTRACT_NAMES)},
        deployed_block=7,
        deployer="0x" + "ab" * 20,
        dev=True,
    )
    fields: dict[str, object] = {
        "manifest": manifest,
        "rpc_urls": ("http://127.0.0.1:8545", "http://127.0.0.1:8546"),
        "federation": 3,
        "bootstrap": (PEER,),
    }
    fields.update(over)
    return Invite(**fields)  # type: ignore[arg-type]


def _reencode(body: dict[str, object], *, fix_checksum: bool = True) -> str:
    if fix_checksum:
        body = dict(body, sha256=checksum(body))
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_round_trip_keeps_every_field() -> None:
    inv = _invite()
    text = inv.encode()
    assert text.startswith(PREFIX) and len(text) < 2000
    back = parse_invite("  " + text + "\n")  # pasted with whitespace around it
    assert back.manifest.chain_id == 31337
    assert back.manifest.contracts == inv.manifest.contracts
    assert back.manifest.deployed_block == 7 and back.manifest.dev is True
    assert back.rpc_urls == inv.rpc_urls
    assert back.federation == 3 and back.bootstrap == (PEER,)


def test_edited_content_fails_the_checksum() -> None:
    body = decode_body(_invite().encode())
    body["chain_id"] = 1
    with pytest.raises(BadInputError, match="checksum does not match"):
        parse_invite(_reencode(body, fix_checksum=False))


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 200])
def test_truncated_is_refused(cut: int) -> None:
    text = _invite().encode()
    with pytest.raises(BadInputError, match="truncated|checksum|base64"):
        parse_invite(text[:-cut])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "must start with"),
        ("https://example.org/join", "must start with"),
        (PREFIX, "nothing after"),
        (PREFIX + "abc$def", "outside base64url"),
        (PREFIX + "A" * (MAX_INVITE_CHARS + 1), "over the limit"),
        (PREFIX + base64.urlsafe_b64encode(b"[1,2]").decode().rstrip("="), "not a JSON object"),
        (PREFIX + base64.urlsafe_b64encode(b"{}").decode().rstrip("="), "no 'sha256'"),
    ],
)
def test_malformed_strings(text: str, needle: str) -> None:
    with pytest.raises(BadInputError, match=needle):
        parse_invite(text)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("v", 2, "version 2"),
        ("fed", 0, "federation id"),
        ("fed", True, "federation id"),
        ("chain_id", -1, "chain_id must be positive"),
        ("chain_id", "31337", "chain_id"),
        ("rpc", [], "rpc"),
        ("rpc", ["ftp://x"], "http"),
        ("rpc", ["http://a:1", "http://a:1"], "twice"),
        ("bootstrap", ["/ip4/127.0.0.1/tcp/1"], "multiaddr"),
        ("bootstrap", [PEER] * 17, "bootstrap"),
        ("deployer", "0x12", "deployer"),
        ("dev", 1, "dev"),
        ("extra", 1, "unknown field 'extra'"),
    ],
)
def test_bad_fields_with_a_valid_checksum_are_named(key: str, value: object, needle: str) -> None:
    body = decode_body(_invite().encode())
    body.pop("sha256")
    body[key] = value
    with pytest.raises(BadInputError, match=needle):
        parse_invite(_reencode(body))


def test_contracts_must_be_the_whole_suite() -> None:
    body = decode_body(_invite().encode())
    body.pop("sha256")
    contracts = dict(body["contracts"])
    contracts.pop(CONTRACT_NAMES[0])
    body["contracts"] = contracts
    with pytest.raises(BadInputError, match="'contracts' must name exactly"):
        parse_invite(_reencode(body))
    contracts[CONTRACT_NAMES[0]] = "0xnothex"
    with pytest.raises(BadInputError, match="no valid address"):
        parse_invite(_reencode(dict(body, contracts=contracts)))


def test_missing_field_is_named() -> None:
    body = decode_body(_invite().encode())
    body.pop("sha256")
    body.pop("deployed_block")
    with pytest.raises(BadInputError, match="no 'deployed_block' field"):
        parse_invite(_reencode(body))


def test_encode_refuses_what_parse_refuses() -> None:
    with pytest.raises(BadInputError, match="at least|0..8|rpc"):
        _invite(rpc_urls=()).encode()
