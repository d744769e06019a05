"""The anvil devnet leaves nothing on disk behind it and keeps a bounded state history.

Anvil writes older blocks' state under ~/.foundry/anvil/tmp and never removed it when stopped
by a signal: test runs and simulations there once filled the machine's disk (74 GB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3
from web3.exceptions import Web3RPCError

from milon_app.chain.devnet import Anvil, find_anvil
from milon_app.errors import ChainError, NotFoundError

try:
    find_anvil()
except NotFoundError:  # pragma: no cover - CI installs it with npm ci
    pytest.skip("anvil not installed (npm ci in contracts/)", allow_module_level=True)

FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first dev account


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def test_older_states_go_to_the_nodes_own_folder_and_leave_with_it() -> None:
    with Anvil(accounts=1) as node:
        cache = node.cache_dir
        assert cache is not None and cache.is_dir()
        Web3(Web3.HTTPProvider(node.url)).provider.make_request("anvil_mine", [1200])
        assert _files(cache) > 0  # the blocks past anvil's in-memory window were written here
    assert node.cache_dir is None and not cache.exists()


def test_state_history_is_bounded() -> None:
    with Anvil(accounts=1, history_states=8) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        w3.provider.make_request("anvil_mine", [1200])
        assert _files(node.cache_dir or Path("/nonexistent")) <= 8
        assert w3.eth.get_balance(FUNDED, "latest") > 0
        with pytest.raises(Web3RPCError, match="BlockOutOfRange"):
            w3.eth.get_balance(FUNDED, 5)


def test_an_anvil_that_fails_to_start_removes_its_folder(tmp_path: Path) -> None:
    broken = tmp_path / "state.json"
    broken.write_text("not a state dump")
    node = Anvil(accounts=1, state_file=broken)
    with pytest.raises(ChainError, match="anvil exited"):
        node.start()
    assert node.cache_dir is None and node.proc is None
