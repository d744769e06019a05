"""The create-job wizard's "Start from" weights: refused unless they fit, published as given."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import Qt

from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.compute.weights import encode_state
from tests.gui.conftest import wait_until
from tests.gui.test_owner_tab import FINISH, NEXT, choose, click, ready_wizard


def test_job_starts_from_chosen_weights(qtbot, ctx, session, tmp_path):
    from milon_app.gui.tabs.owner import OwnerTab

    other = tmp_path / "cnn.safetensors"
    other.write_bytes(encode_state(digits_cnn().build(0).state_dict()))
    good = tmp_path / "released.safetensors"
    good.write_bytes(encode_state(digits_mlp().build(7).state_dict(), {"release": "v1"}))
    tab = OwnerTab(ctx)
    qtbot.addWidget(tab)
    wizard = ready_wizard(qtbot, tab, choose_weights=lambda: str(other))
    page = wizard.model_page
    choose(page.model, "digits_mlp")
    choose(page.dataset, "digits")
    assert page.weights_path.text() == "" and page.error.text() == ""

    qtbot.mouseClick(page.browse_weights, Qt.MouseButton.LeftButton)  # the dialog is injected
    assert page.weights_path.text() == str(other)
    assert "cnn.safetensors does not fit the job's model spec" in page.error.text()
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is page and "does not fit" in wizard.error_text()
    wizard.set_init_weights(tmp_path / "gone.safetensors")
    assert "does not exist" in page.error.text()

    wizard.set_init_weights(good)
    assert page.error.text() == "" and "starts from released.safetensors" in page.summary.text()
    click(qtbot, wizard, NEXT)
    t = wizard.training_page
    assert wizard.currentPage() is t, wizard.error_text()
    t.rounds.setValue(1)
    t.epochs.setValue(2)
    t.reward.setText("1")
    click(qtbot, wizard, FINISH)
    wait_until(qtbot, lambda: wizard.job_id is not None or wizard.error_text(), 30_000)
    assert wizard.job_id is not None, wizard.error_text()
    job = session.milon.job(wizard.job_id)
    assert job.params.initial_model_hash.hex() == hashlib.sha256(good.read_bytes()).hexdigest()
    wait_until(qtbot, lambda: not wizard.isVisible())
