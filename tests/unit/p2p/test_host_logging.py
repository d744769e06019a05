"""py-libp2p's errors stay out of the default output and reach the app's log with -v."""

from __future__ import annotations

import logging

import pytest

from milon_app.p2p import host


@pytest.fixture
def root_level():
    root, lib = logging.getLogger(), logging.getLogger("libp2p")
    saved = (root.level, lib.level, lib.propagate)
    yield root
    root.setLevel(saved[0])
    lib.setLevel(saved[1])
    lib.propagate = saved[2]


def test_a_failed_dial_is_not_printed_by_default(root_level, capsys):
    root_level.setLevel(logging.WARNING)
    host._route_libp2p_logging()
    logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: x")
    assert "Failed to open TCP stream" not in capsys.readouterr().err


def test_verbose_routes_library_logs_through_the_app(root_level, caplog):
    root_level.setLevel(logging.INFO)
    host._route_libp2p_logging()
    with caplog.at_level(logging.INFO):
        logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: y")
    assert any("Failed to open TCP stream: y" in r.getMessage() for r in caplog.records)
