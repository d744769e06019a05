"""Shared fixtures: real chains (embedded py-evm and anvil on loopback), one deployment each.

Each chain kind is started and the suite deployed once per session; every
test runs inside a snapshot that is reverted afterwards, so tests stay
independent without paying for a deployment each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CHAIN_KINDS = ["embedded", "anvil"]
# p2p.mdns is on by default for users, and zeroconf binds every interface of this machine: no
# node a test starts from a config (daemons, the app on an RPC chain) runs mDNS; child
# processes inherit this. tests/netns runs mDNS inside namespaces it creates.
os.environ["MILON_MDNS"] = "0"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="also run tests marked `long` (soak, long invariant runs); see README",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`long` tests run only with --long (or MILON_LONG=1): the default run must fit CI's budget."""
    if config.getoption("--long") or os.environ.get("MILON_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long test: run with `pytest --long -m long`")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test touches the real user folders."""
    home = tmp_path_factory.mktemp("milon-home")
    monkeypatch.setenv("MILON_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    yield home


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[object]:
    from milon_app.chain.devnet import Anvil, find_anvil
    from milon_app.errors import NotFoundError

    try:
        find_anvil()
    except NotFoundError as exc:
        if os.environ.get("MILON_SKIP_ANVIL") == "1":
            pytest.skip(f"anvil unavailable and MILON_SKIP_ANVIL=1: {exc}")
        raise
    node = Anvil(accounts=20).start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session", params=CHAIN_KINDS)
def _deployed(request: pytest.FixtureRequest):
    from milon_app.chain.client import ChainClient
    from milon_app.chain.deploy import deploy_suite

    if request.param == "embedded":
        client = ChainClient.embedded()
    else:
        node = request.getfixturevalue("anvil_node")
        client = ChainClient.connect(node.url, dev_accounts=20)  # type: ignore[attr-defined]
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    return client, suite


@pytest.fixture
def client(_deployed):
    """A chain client with the suite deployed; state is reverted after the test."""
    chain, _suite = _deployed
    snap = chain.snapshot()
    try:
        yield chain
    finally:
        chain.revert(snap)


@pytest.fixture
def suite(_deployed, client):
    return _deployed[1]


@pytest.fixture
def accounts(client):
    return client.dev_accounts
