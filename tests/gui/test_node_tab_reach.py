"""Node tab: how peers reach the node (public, via relay R, direct after a hole punch)."""

from __future__ import annotations

from dataclasses import replace

from milon_app.gui.tabs.node import NodeTab
from milon_app.p2p.reachability import Reach
from tests.gui.conftest import refreshed


def test_network_box_says_how_the_node_is_reached(qtbot, ctx):
    tab = NodeTab(ctx)
    qtbot.addWidget(tab)
    refreshed(qtbot, tab)
    assert tab.reached.text() == "in-process transport"  # the GUI tests' transport
    punched = Reach("relay", relay="16Uiu2HAmRelayPeer12345678", punched=("16Uiu2HAmX",))
    tab.show_data(replace(tab.load(), reached=punched.text()))
    assert tab.reached.text() == (
        "direct after a hole punch (1 peer(s)); otherwise via relay 12345678"
    )
