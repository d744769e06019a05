"""Issue 23 in the window: the wizard's privacy fields, the settings' ceiling, and epsilon
spent on the Training tab and the owner's dashboard, on a real session (embedded chain,
simulated members training the client-dp job)."""

from __future__ import annotations

import pytest

from milon_app.compute.datasets import DatasetSpec
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.privacy_spec import MODES, PrivacySpec
from milon_app.config import Config, Paths, load_config
from milon_app.federation import privacy as P
from tests.gui.conftest import running_session, wait_until
from tests.gui.test_owner_tab import FINISH, NEXT, choose, click, ready_wizard, wait_view

CEILING = 1.0  # this node's privacy.max_epsilon: below what one round of an epsilon-8 job costs
ETHER = 10**18


@pytest.fixture
def session(tmp_path):
    """The tests' session (conftest's), its user with a privacy ceiling in the config."""
    cfg = Config()
    cfg.privacy.max_epsilon = CEILING
    yield from running_session(tmp_path, b"\x11" * 32, "inprocess", cfg)  # THROWAWAY test key


def test_settings_privacy_ceiling_is_saved_for_the_node_and_bad_values_refused(qtbot, tmp_path):
    from milon_app.gui.settings import SettingsDialog
    from milon_app.node.build import options_from_config

    paths = Paths.default(tmp_path / "home")
    dialog = SettingsDialog(paths)
    qtbot.addWidget(dialog)
    edit = dialog.editors["privacy.max_epsilon"]
    assert edit.placeholderText() == "0.0" and "0: no ceiling" in edit.toolTip()
    for bad, needle in (
        ("-1", "privacy max_epsilon must be >= 0"),
        ("abc", "setting privacy.max_epsilon"),
        ("nan", "'privacy.max_epsilon': expected a finite number"),
    ):
        edit.setText(bad)
        assert not dialog.save()
        assert needle in dialog.error.text() and not paths.config_file.exists(), bad
    edit.setText("2.5")
    assert dialog.save(), dialog.error.text()
    cfg = load_config(paths.config_file)  # the file `milon --daemon` and the CLI read
    assert cfg.privacy.max_epsilon == 2.5
    assert options_from_config(cfg).policy.max_epsilon == 2.5


def test_wizard_privacy_reaches_the_spec_dashboard_and_training_tab(qtbot, ctx, session):
    from milon_app.gui.tabs.owner import OwnerTab
    from milon_app.gui.tabs.training import TrainingTab
    from milon_app.session.privacy_view import job_privacy

    tab = OwnerTab(ctx)
    qtbot.addWidget(tab)
    tab.show()
    training = TrainingTab(ctx)
    qtbot.addWidget(training)
    wizard = ready_wizard(qtbot, tab)
    choose(wizard.model_page.model, "digits_mlp")
    choose(wizard.model_page.dataset, "digits")
    click(qtbot, wizard, NEXT)
    t = wizard.training_page
    assert wizard.currentPage() is t, wizard.error_text()
    t.rounds.setValue(1)
    t.epochs.setValue(3)
    fields = t.privacy
    modes = [fields.mode.itemData(i) for i in range(fields.mode.count())]
    assert modes == list(MODES) and fields.mode.currentData() == "none"
    assert not fields.epsilon.isEnabled()
    choose(fields.mode, "client-dp")
    assert fields.epsilon.isEnabled() and "privacy.epsilon is required" in fields.error.text()
    for field, text, needle in (
        (fields.epsilon, "", "privacy.epsilon is required"),
        (fields.epsilon, "abc", "privacy.epsilon must be a number"),
        (fields.epsilon, "500", "privacy.epsilon 500.0 is not in (0, 100]"),
        (fields.delta, "0.5", "privacy.delta 0.5 is not in (0, 0.01]"),
    ):
        fields.epsilon.setText("8")
        fields.delta.setText("")
        field.setText(text)
        assert needle in fields.error.text()
        click(qtbot, wizard, FINISH)  # refused on the page: nothing is sent
        assert wizard.currentPage() is t and needle in wizard.error_text(), text
        assert session.milon.job_count() == 0
    fields.epsilon.setText("8")
    fields.delta.setText("")
    fields.clip.setText("0.5")
    assert fields.error.text() == ""
    click(qtbot, wizard, FINISH)
    wait_until(qtbot, lambda: wizard.job_id is not None or wizard.error_text(), 60_000)
    assert wizard.job_id is not None, wizard.error_text()
    job_id = wizard.job_id

    # the setting is in the spec whose hash the job records on chain
    digest = session.milon.job(job_id).params.model_spec_hash.hex()
    spec = ModelSpec.from_json(session.core.store.get(digest))
    assert spec.privacy == PrivacySpec("client-dp", 8.0, 1e-5, 0.5)
    sigma = P.noise_multiplier(8.0, 1e-5, 1)
    per_round = P.epsilon_spent(sigma, 1, 1e-5)

    # the owner's dashboard: the setting, epsilon a round / for the job / spent so far
    wait_view(qtbot, tab, lambda v: v.detail is not None and v.detail.current_round >= 1)
    text = tab.privacy.text()
    assert "client-dp, target epsilon 8 (delta 1e-05), clip 0.5" in text
    assert f"epsilon {per_round:.3g} a round" in text and "for the job's 1 rounds" in text
    assert f"spent so far: at most {per_round:.3g}" in text
    assert text == job_privacy_text(session, job_id, job_privacy)

    # the Training tab: a member's spend, from its PrivacySpent event, against the target
    peers = {p.address for p in session.sim.peers}
    wait_until(qtbot, lambda: training.job_id == job_id and training.node in peers, 60_000)
    label = training.privacy.label
    wait_until(qtbot, lambda: "after round 1" in label.text(), 90_000)
    assert label.isVisibleTo(training)
    assert f"client-dp · epsilon spent {per_round:.3g} of target 8 (delta 1e-05)" in label.text()


def job_privacy_text(session, job_id, job_privacy):
    from milon_app.session.privacy_view import dashboard_text

    return dashboard_text(job_privacy(session.milon, session.core.store, job_id))


def test_a_round_declined_for_privacy_shows_the_reason_on_the_training_tab(qtbot, ctx, session):
    from milon_app.gui.tabs.training import TrainingTab
    from milon_app.node.owner import JobRequest

    training = TrainingTab(ctx)
    qtbot.addWidget(training)
    fed = session.sim.fed_id
    # a member with the largest capacity: the round's split gives it epochs
    session.core.join(fed, 25 * ETHER, 10_000, f"node:{session.address}")
    job = session.core.owner.create_job(
        JobRequest(
            fed_id=fed,
            spec=digits_mlp().with_privacy(PrivacySpec("client-dp", 8.0)),
            dataset=DatasetSpec(kind="builtin", name="digits", test_fraction=0.2),
            total_epochs=8,
            epochs_per_round=8,
            reward_per_epoch=ETHER,
        )
    )
    wait_until(qtbot, lambda: training.job_id == job, 60_000)
    training.select(node=session.address)
    label = training.privacy.label
    wait_until(qtbot, lambda: "declined" in label.text(), 90_000)  # the node's own event
    assert "Round 1 declined: privacy:" in label.text()
    assert f"over this node's ceiling privacy.max_epsilon={CEILING:g}" in label.text()
    # the target comes with the tab's load on a worker: it may land after the decline
    wait_until(qtbot, lambda: "target" in label.text(), 30_000)
    assert "epsilon spent 0 of target 8 (delta 1e-05)" in label.text()  # it released nothing


def test_max_epochs_field_is_for_dp_sgd_only(qtbot):
    """The wizard's Max epochs: enabled and carried for dp-sgd alone, checked as typed, and
    set from a spec that carries one."""
    from milon_app.gui.privacy_fields import PrivacyFields

    fields = PrivacyFields()
    qtbot.addWidget(fields)
    choose(fields.mode, "client-dp")
    fields.epsilon.setText("8")
    fields.max_epochs.setText("4")
    assert not fields.max_epochs.isEnabled() and "max_epochs" not in fields.entries()
    assert fields.error.text() == ""
    choose(fields.mode, "dp-sgd")
    assert fields.max_epochs.isEnabled() and fields.entries()["max_epochs"] == "4"
    assert fields.error.text() == ""
    fields.max_epochs.setText("4.5")
    assert "privacy.max_epochs must be a whole number, got '4.5'" in fields.error.text()
    fields.follow(digits_mlp().with_privacy(PrivacySpec("dp-sgd", 8.0, max_epochs=12)))
    assert fields.max_epochs.text() == "12" and fields.error.text() == ""
