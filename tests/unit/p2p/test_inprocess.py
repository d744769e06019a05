from __future__ import annotations

import hashlib
import os

import pytest

from milon_app.errors import BadInputError, NetworkError
from milon_app.p2p.inprocess import InProcessHub
from milon_app.store.blobs import BlobStore


@pytest.fixture
def hub(tmp_path):
    hub = InProcessHub()
    nodes = {}
    for name in ("a", "b", "c"):
        t = hub.transport(name, BlobStore(tmp_path / name), lambda peer, _d: peer != "c")
        t.start()
        nodes[name] = t
    return hub, nodes


def test_fetch_copies_and_verifies(hub):
    _, n = hub
    blob = os.urandom(300_000)
    digest = n["a"].store.put(blob, "weights")
    n["a"].provide(digest)
    assert n["b"].fetch(digest, kind="weights") == digest
    assert n["b"].store.get(digest) == blob
    assert hashlib.sha256(n["b"].store.get(digest)).hexdigest() == digest


def test_provider_refuses_unauthorized_peer(hub):
    _, n = hub
    digest = n["a"].store.put(b"secret shard", "weights")
    n["a"].provide(digest)
    with pytest.raises(NetworkError, match="a: refused access"):
        n["c"].fetch(digest, kind="weights")
    assert not n["c"].store.has(digest)


def test_falls_back_to_another_provider(hub):
    _, n = hub
    digest = n["a"].store.put(b"model", "weights")
    n["b"].store.put(b"model", "weights")
    n["a"].provide(digest)
    n["b"].provide(digest)
    n["a"].stop()
    store_c = BlobStore(n["c"].store.root.parent / "c2")
    t = hub[0].transport("d", store_c)
    t.start()
    assert t.fetch(digest, kind="weights", providers=["a"]) == digest


def test_corrupt_provider_copy_is_rejected_and_nothing_kept(hub):
    _, n = hub
    digest = n["a"].store.put(b"x" * 1000, "weights")
    n["a"].provide(digest)
    path = n["a"].store.path(digest)
    path.chmod(0o600)
    path.write_bytes(b"y" * 1000)  # bit rot / a lying provider
    with pytest.raises(NetworkError, match="could not fetch"):
        n["b"].fetch(digest, kind="weights")
    assert not n["b"].store.has(digest)


def test_size_limits_apply_to_fetches(hub):
    _, n = hub
    big = os.urandom(70 * 1024)
    digest = n["a"].store.put(big, "weights")
    n["a"].provide(digest)
    with pytest.raises(NetworkError, match="passed the limit"):
        n["b"].fetch(digest, kind="model_spec")


def test_unknown_blob_and_bad_digest(hub):
    _, n = hub
    with pytest.raises(NetworkError, match="no provider known"):
        n["b"].fetch("0" * 64, kind="weights")
    with pytest.raises(BadInputError):
        n["b"].fetch("../../etc/passwd", kind="weights")


def test_messages_reach_subscribers_but_not_sender(hub):
    _, n = hub
    got = []
    n["b"].subscribe("milon/round", lambda peer, msg: got.append((peer, msg)))
    n["a"].subscribe("milon/round", lambda peer, msg: got.append(("self", msg)))
    n["a"].publish("milon/round", {"job": 1, "round": 2})
    assert got == [("a", {"job": 1, "round": 2})]
    with pytest.raises(BadInputError, match="send a blob"):
        n["a"].publish("milon/round", {"x": "y" * 70_000})
    assert n["a"].peers() == ["b", "c"]


def test_in_process_peers_have_no_listen_addresses_and_are_dialled_by_peer_id(hub):
    _, n = hub
    assert n["a"].listen_addrs() == []  # the Transport protocol's call; callers fall back
    assert n["a"].connect("b") == "b"
    with pytest.raises(NetworkError, match="no peer z in this process"):
        n["a"].connect("z")
