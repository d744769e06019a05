"""Issue 18 item 1: only the round's committee fetches and judges the members' updates;
a member off the committee fetches nothing of the round but the global model it trains on."""

from __future__ import annotations

from typing import Any

import pytest

from milon_app.chain.bindings import Milon
from milon_app.chain.client import ChainClient
from milon_app.chain.deploy import deploy_suite
from milon_app.demo import DemoAttach, DemoOptions, run_demo
from milon_app.node.bus import EventBus
from milon_app.p2p.inprocess import InProcessTransport


def test_members_off_the_committee_fetch_only_the_global_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[tuple[str, str, str]] = []  # (fetcher, digest, kind)
    real_fetch = InProcessTransport.fetch

    def recording_fetch(self: InProcessTransport, digest: str, **kw: Any) -> str:
        fetched.append((self.peer_id, digest, kw["kind"]))
        return real_fetch(self, digest, **kw)

    monkeypatch.setattr(InProcessTransport, "fetch", recording_fetch)
    client = ChainClient.embedded()
    suite = deploy_suite(client, client.dev_accounts[0], dev=True)
    opts = DemoOptions(nodes=5, rounds=1, committee=3, transport="inprocess",
                       governance=False, baseline=False)  # fmt: skip
    report = run_demo(opts, attach=DemoAttach(suite, client.dev_accounts[:6], EventBus()))

    m, job = Milon(suite), report.job_id
    seated = {s["address"] for s in report.rounds[0].committee}
    members = [n["address"] for n in report.nodes]
    off = [a for a in members if a not in seated]
    updates = {m.assignment(job, 1, a).update_hash.hex() for a in members} - {"00" * 32}
    base = m.round(job, 1).base_model_hash.hex()
    # three seats drawn by stake (a member may hold two): at least two members are off it
    assert 1 <= len(seated) <= 3 and len(off) >= 2 and len(updates) >= 4

    def weights_of(who: str) -> set[str]:
        return {d for f, d, kind in fetched if f == who and kind == "weights"}

    for a in off:  # the global model to train on, nothing else of the round's weights
        assert weights_of(a) == {base}, a
    for a in seated:  # every update but its own (its own is in its store already)
        mine = m.assignment(job, 1, a).update_hash.hex()
        assert updates - {mine} <= weights_of(a), a
