"""MILON amounts and addresses as people write them and as the chain holds them.

Shared by every front-end, so the CLI and the window accept and print the
same forms.
"""

from __future__ import annotations

import re

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
