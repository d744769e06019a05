"""One error type for contract reverts, whichever provider raised them.

The embedded chain raises ``eth_tester`` ``TransactionFailed`` with the raw
revert bytes in its message; JSON-RPC providers raise web3's
``ContractCustomError``/``ContractLogicError`` with hex data. Both become a
:class:`ContractRevert` naming the custom error and its arguments.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector

from milon_app.chain.artifacts import all_abis
from milon_app.errors import ChainError

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


class ContractRevert(ChainError):
    """A transaction or call reverted; ``error_name`` is the Solidity error's name."""

    def __init__(
        self, error_name: str, error_args: tuple[Any, ...] = (), context: str = ""
    ) -> None:
        self.error_name = error_name
        self.error_args = error_args
        shown = ", ".join(repr(a) for a in error_args)
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}reverted with {error_name}({shown})")


class RpcUnavailableError(ChainError):
    """The JSON-RPC endpoint did not answer after retries."""


class WrongChainError(ChainError):
    """The endpoint serves another chain, or the expected contracts are not there."""


def _type_str(inp: dict[str, Any]) -> str:
    if inp["type"].startswith("tuple"):
        inner = ",".join(_type_str(c) for c in inp["components"])
        return f"({inner}){inp['type'][5:]}"
    return str(inp["type"])


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {}
    for abi in all_abis():
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_type_str(i) for i in item.get("inputs", [])]
            sig = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(sig)] = (item["name"], types)
    return table


_TABLE: dict[bytes, tuple[str, list[str]]] | None = None


def decode_revert_data(data: bytes, context: str = "") -> ContractRevert:
    """Name the error behind raw revert bytes (custom error, Error(string) or Panic)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _error_table()
    selector, body = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            return ContractRevert("Error", tuple(abi_decode(["string"], body)), context)
        if selector == _PANIC:
            return ContractRevert("Panic", tuple(abi_decode(["uint256"], body)), context)
        if selector in _TABLE:
            name, types = _TABLE[selector]
            return ContractRevert(name, tuple(abi_decode(types, body)), context)
    except Exception:  # noqa: S110 - malformed data falls through to the raw form
        pass
    if not data:
        return ContractRevert("EmptyRevert", (), context)
    return ContractRevert("UnknownError", ("0x" + data.hex(),), context)


def error_name(selector: bytes) -> str:
    """The name of the contracts' custom error with this 4-byte selector (a skipped batch
    entry's reason), else its hex."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _error_table()
    found = _TABLE.get(bytes(selector))
    return found[0] if found else "0x" + bytes(selector).hex()


_BYTES_RE = re.compile(r"execution reverted: (b'.*'|b\".*\")$", re.S)


def revert_from_exception(exc: BaseException, context: str = "") -> ContractRevert | None:
    """Turn a provider's revert exception into a ContractRevert, or None if it is not one."""
    from web3.exceptions import ContractCustomError, ContractLogicError

    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        raw = exc.data if isinstance(exc.data, str) else None
        if raw and raw.startswith("0x"):
            return decode_revert_data(bytes.fromhex(raw[2:]), context)
        return ContractRevert("Error", (str(exc.message or exc),), context)
    if type(exc).__name__ == "TransactionFailed":
        msg = str(exc.args[0]) if exc.args else ""
        if isinstance(exc.args[0] if exc.args else None, bytes):
            return decode_revert_data(exc.args[0], context)
        m = _BYTES_RE.search(msg)
        if m:
            return decode_revert_data(ast.literal_eval(m.group(1)), context)
        reason = msg.removeprefix("execution reverted: ").removeprefix("execution reverted")
        return ContractRevert("Error", (reason,) if reason else (), context)
    return None
