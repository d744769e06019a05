"""MILON amounts and addresses as people write them and as the chain holds them.

Shared by every front-end, so the CLI and the window accept and print the
same forms.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from milon_app.errors import BadInputError

DECIMALS = 18
WEI = 10**18
_AMOUNT = re.compile(r"([0-9]{1,60})(?:\.([0-9]+))?")  # ASCII digits; 10^60 is beyond any supply


def parse_amount(text: str, what: str = "amount") -> int:
    """``"10.5"`` MILON -> wei; whole tokens with up to 18 decimals, nothing else."""
    value = text.strip()
    m = _AMOUNT.fullmatch(value)
    if m is None:
        raise BadInputError(
            f"{what} {text!r} is not a MILON amount: expected a decimal number of whole tokens "
            "such as 10 or 10.5"
        )
    whole: str = m.group(1)
    frac: str = m.group(2) or ""
    if len(frac) > DECIMALS:
        raise BadInputError(f"{what} {text!r} has more than {DECIMALS} decimals")
    return int(whole) * WEI + int(frac.ljust(DECIMALS, "0") or "0")


def format_amount(wei: int) -> str:
    """wei -> ``"10.5"`` (the inverse of :func:`parse_amount`)."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(int(wei)), WEI)
    tail = f"{frac:018d}".rstrip("0")
    return f"{sign}{whole}.{tail}" if tail else f"{sign}{whole}"


def format_milon(wei: int) -> str:
    """wei -> ``"6 MILON"``: how every front-end shows an amount to people (exact)."""
    return f"{format_amount(wei)} MILON"


# Fields of the node's events and the daemon's status that hold wei.
WEI_FIELDS = ("amount", "stake", "escrow", "refund", "claimable", "rewards_credited")


def milon_fields(data: dict[str, Any], names: tuple[str, ...] = WEI_FIELDS) -> dict[str, Any]:
    """A copy of ``data`` for JSON that people read: each wei field ``k`` becomes MILON (a
    decimal string, as ``milon rewards`` prints ``claimable``) and its exact integer moves to
    ``k_wei``, the only place wei appears, under a name that says so."""
    out = dict(data)
    for key in names:
        value = out.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = format_amount(value)
            out[f"{key}_wei"] = value
    return out


def check_address(text: str, what: str = "address") -> str:
    """A checksummed Ethereum address, or an error that says what one looks like."""
    from web3 import Web3

    if not Web3.is_address(text):
        raise BadInputError(f"{what} {text!r} is not an Ethereum address (0x + 40 hex digits)")
    return str(Web3.to_checksum_address(text))


def short_amount(wei: int, places: int = 2) -> str:
    """For tables: ``1,234.57`` (rounded; the exact form is :func:`format_amount`)."""
    return f"{int(wei) / WEI:,.{places}f}"


def short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def duration(seconds: int) -> str:
    """``4m 10s``, ``2h 1m``, ``3d 4h``: the two largest units of a span (its sign dropped)."""
    s = abs(int(seconds))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    shown = [f"{n}{u}" for n, u in parts if n] or ["0s"]
    return " ".join(shown[:2])


def utc(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(ts: int, now: int) -> str:
    """``in 4m 10s`` / ``2h 1m ago`` against chain time (deadlines compare with blocks)."""
    delta = int(ts) - int(now)
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago" if delta else "now"
