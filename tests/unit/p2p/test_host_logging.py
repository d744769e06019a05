"""py-libp2p's errors stay out of the default output and reach the app's log with -v."""

from __future__ import annotations

import io
import logging

import pytest

from milon_app.p2p import host


@pytest.fixture
def root_level():
    root, lib = logging.getLogger(), logging.getLogger("libp2p")
    saved = (root.level, lib.level, lib.propagate, list(lib.handlers))
    yield root
    root.setLevel(saved[0])
    lib.setLevel(saved[1])
    lib.propagate = saved[2]
    lib.handlers[:] = saved[3]
    logging.getLogger("libp2p.network.auto_connector").setLevel(logging.NOTSET)


def test_a_failed_dial_is_not_printed_by_default(root_level, capsys):
    root_level.setLevel(logging.WARNING)  # what `milon` sets up without -v
    app_output = io.StringIO()
    handler = logging.StreamHandler(app_output)
    root_level.addHandler(handler)
    try:
        host._route_libp2p_logging()
        logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: x")
        chatty = logging.getLogger("libp2p.network.auto_connector")
        chatty.setLevel(logging.INFO)  # as some libp2p modules do
        chatty.info("AUTO_CONNECTOR_STATE: num_connections=0")
    finally:
        root_level.removeHandler(handler)
    for out in (capsys.readouterr().err, app_output.getvalue()):
        assert "Failed to open TCP stream" not in out and "AUTO_CONNECTOR" not in out


def test_verbose_routes_library_logs_through_the_app(root_level, caplog):
    root_level.setLevel(logging.INFO)
    host._route_libp2p_logging()
    with caplog.at_level(logging.INFO):
        logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: y")
    assert any("Failed to open TCP stream: y" in r.getMessage() for r in caplog.records)
