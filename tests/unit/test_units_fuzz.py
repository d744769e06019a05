"""Property tests for the amounts and addresses people type into the CLI and the window.

``parse_amount`` returns wei that prints back to the same amount, or raises
BadInputError (never int()'s ValueError on a 5000-digit number or a
non-ASCII digit); ``check_address`` returns a checksummed address or refuses.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from milon_app.errors import BadInputError
from milon_app.units import WEI, check_address, duration, format_amount, parse_amount, relative
from tests.unit.fuzz_util import FUZZ, outcome

amount_texts = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A\s?[0-9]{1,70}(\.[0-9]{0,25})?\s?\Z"),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.sampled_from(["\u0663", "\uff11", "1\u00b2", "1_000", "+1", "1e3", "\u0661\u066b\u0665"]),
)


@FUZZ
@given(amount_texts)
def test_amounts_parse_to_wei_that_prints_back_or_are_refused(text):
    wei = outcome(lambda: parse_amount(text, "--stake"), BadInputError)
    if wei is not None:
        assert isinstance(wei, int) and wei >= 0
        assert parse_amount(format_amount(wei)) == wei
        whole = text.strip().split(".")[0]
        assert wei // WEI == int(whole)


@FUZZ
@given(
    st.text(max_size=44)
    | st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    | st.text(alphabet="0123456789abcdefABCDEFx", min_size=40, max_size=42)
)
def test_addresses_are_checksummed_or_refused(text):
    address = outcome(lambda: check_address(text), BadInputError)
    if address is not None:
        assert address.startswith("0x") and len(address) == 42
        assert address[2:].lower() == text.lower().removeprefix("0x")  # the same 20 bytes
        assert check_address(address) == address


def test_one_duration_for_every_front_end():
    """The CLI, the parameter list and the window print spans the same way (two largest units)."""
    shown = [duration(s) for s in (0, 45, 60, 61, 300, 3_661, 90_000, 200_000, -125)]
    assert shown == ["0s", "45s", "1m", "1m 1s", "5m", "1h 1m", "1d 1h", "2d 7h", "2m 5s"]
    assert [relative(100, 0), relative(0, 125), relative(7, 7)] == ["in 1m 40s", "2m 5s ago", "now"]
