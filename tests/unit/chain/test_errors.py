from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from milon_app.chain.errors import ContractRevert, decode_revert_data
from milon_app.exit_codes import ExitCode


def test_error_string():
    data = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    rev = decode_revert_data(data, "f")
    assert (rev.error_name, rev.error_args) == ("Error", ("nope",))
    assert str(rev) == "f: reverted with Error('nope')"


def test_panic():
    data = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert decode_revert_data(data).error_args == (0x11,)


def test_custom_error_from_our_abis():
    sel = function_signature_to_4byte_selector("FaucetAmountTooLarge(uint256,uint256)")
    rev = decode_revert_data(sel + encode(["uint256", "uint256"], [5, 3]))
    assert rev.error_name == "FaucetAmountTooLarge"
    assert rev.error_args == (5, 3)
    assert rev.exit_code == ExitCode.CHAIN


def test_unknown_and_empty_and_garbage():
    assert decode_revert_data(b"").error_name == "EmptyRevert"
    assert decode_revert_data(b"\x01\x02\x03\x04xx").error_name == "UnknownError"
    sel = function_signature_to_4byte_selector("FaucetAmountTooLarge(uint256,uint256)")
    assert decode_revert_data(sel + b"\x00").error_name == "UnknownError"


def test_is_a_chain_error():
    assert isinstance(ContractRevert("X"), Exception)
