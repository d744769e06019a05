"""Cheaper transactions for the simulation's devnet passes.

A driver pass sends thousands of the members' own transactions. Two costs of the ordinary
path are the client's, not the chain's, and are cut here for the simulation only:

- web3's ``build_transaction`` normalises and validates every argument against the ABI
  before encoding (about 4 ms a transaction on this machine, more than signing it);
  :class:`FastCall` encodes with ``eth_abi`` from the function's ABI types, cached per
  function, and checks its first encoding of each function against web3's (a mismatch
  keeps web3's path for that function);
- each signed transaction is one HTTP request; inside a pass they are queued and sent in
  JSON-RPC batches just before the pass's block is mined
  (:meth:`milon_app.sim.pipeline.PassPipeline.settle`), the hash computed locally.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types

# id(abi) -> (the abi, its selector, input types), or (abi, None, None): use web3's encoding
_ENCODERS: dict[int, tuple[Any, bytes | None, list[str] | None]] = {}
checked_mismatches = 0  # functions whose eth_abi encoding differed from web3's (for tests)


class FastCall:
    """A web3 contract function call whose ``build_transaction`` skips web3's formatters;
    everything else (``call`` for a replay, ``fn_name``, ``args``) is the wrapped one's."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fn, name)

    def build_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        data = _data(self._fn)
        if data is None:
            return dict(self._fn.build_transaction(tx))
        out = {k: v for k, v in tx.items() if k != "from"}
        out["to"], out["data"] = self._fn.address, data
        return out


def _data(fn: Any) -> str | None:
    """The call data of ``fn`` encoded by ``eth_abi``; None where that is not known to match."""
    global checked_mismatches
    abi: Any = getattr(fn, "abi", None)
    if not isinstance(abi, dict) or not hasattr(fn, "fn_name"):  # a constructor: web3's path
        return None
    known = _ENCODERS.get(id(abi))
    if known is not None and known[0] is abi:
        _abi, selector, types = known
        if selector is None or types is None or fn.kwargs:
            return None
        return "0x" + (selector + encode(types, list(fn.args))).hex()
    element: Any = abi  # web3's ABI TypedDicts; a plain dict here
    selector, types = function_abi_to_4byte_selector(element), get_abi_input_types(element)
    try:
        ours: str | None = "0x" + (selector + encode(types, list(fn.args))).hex()
    except Exception:  # an argument eth_abi takes differently from web3: web3's path
        ours = None
    if ours is None or ours != fn._encode_transaction_data() or fn.kwargs:
        checked_mismatches += 1
        _ENCODERS[id(abi)] = (abi, None, None)
        return None
    _ENCODERS[id(abi)] = (abi, selector, types)
    return ours
