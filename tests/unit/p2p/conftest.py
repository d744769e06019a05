"""Fixtures for the libp2p transport tests: real peers on 127.0.0.1, stopped after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from milon_app.p2p.host import Libp2pTransport
from milon_app.store.blobs import BlobStore

MakePeer = Callable[..., Libp2pTransport]


@pytest.fixture
def make_peer(tmp_path) -> Iterator[MakePeer]:
    made: list[Libp2pTransport] = []

    def make(name: str, **kwargs) -> Libp2pTransport:
        key = kwargs.pop("key", None) or os.urandom(32)
        limits = kwargs.pop("limits", None)
        kwargs.setdefault("want_wait_s", 0.3)
        peer = Libp2pTransport(key, BlobStore(tmp_path / name, limits), **kwargs)
        made.append(peer)
        peer.start()
        return peer

    yield make
    for peer in made:
        peer.stop()
