"""The window on the app's own set-up: the simulated federation in a child process (libp2p).

The other GUI tests keep everything in one process (the in-process transport,
for speed); this one checks that the tabs see the same things when the
members and the in-app demo live in another process and only their events,
chain and databases reach the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gui.conftest import running_session, wait_until


@pytest.fixture
def child_session(tmp_path: Path) -> Iterator[Any]:
    # libp2p: the session runs the simulated federation in a child process (its default)
    yield from running_session(tmp_path, b"\x12" * 32, "libp2p")  # THROWAWAY test key


@pytest.fixture
def child_ctx(qtbot: Any, child_session: Any) -> Iterator[Any]:
    from milon_app.gui.bridge import EventBridge
    from milon_app.gui.context import GuiContext
    from milon_app.gui.tasks import TaskRunner

    runner, bridge = TaskRunner(), EventBridge(child_session.bus)
    try:
        yield GuiContext(session=child_session, runner=runner, bridge=bridge)
    finally:
        runner.wait_idle(10_000)
        bridge.close()
        runner.shutdown()


def test_simulate_and_training_tabs_on_a_federation_in_a_child_process(
    child_ctx, qtbot, child_session
):
    from milon_app.gui.tabs.simulate import SimulateTab
    from milon_app.gui.tabs.training import TrainingTab
    from milon_app.session.sim_process import SimProcess

    sim = child_session.sim
    assert isinstance(sim, SimProcess) and sim.alive()
    tab, training = SimulateTab(child_ctx), TrainingTab(child_ctx)
    qtbot.addWidget(tab)
    qtbot.addWidget(training)
    assert tab.nodes.maximum() == len(sim.spare_accounts) - 1
    assert training._node_label(sim.peers[0].address).endswith("(simulated member)")
    tab.nodes.setValue(2)
    tab.rounds.setValue(1)
    tab.epochs.setValue(2)
    tab.governance.setChecked(False)
    tab.baseline.setChecked(False)
    tab.run_button.click()
    wait_until(qtbot, lambda: tab.report is not None, 180_000)
    assert tab.live_rounds == 1 and tab.table.rowCount() == 1  # the round came through the pipe
    assert "Simulation finished" in tab.message.text()
    demo_nodes = {n["address"] for n in tab.report.nodes}
    # the demo nodes' training events crossed the pipe and reached the Training tab's store
    wait_until(qtbot, lambda: set(training.store.nodes_for(tab.report.job_id)) == demo_nodes)
