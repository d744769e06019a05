"""The create-job wizard: model and data first, then rounds, reward and the live escrow.

It only gathers values; :mod:`milon_app.session.job_form` checks them and
builds the request, and the publish (approve, escrow, create) runs on the
task runner. A page that does not validate keeps the wizard open and says
what to fix in red under its fields.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from milon_app.errors import MilonError
from milon_app.federation.types import RULE_NAMES
from milon_app.gui.context import GuiContext
from milon_app.gui.privacy_fields import PrivacyFields
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import ERROR_COLOR, error_label, form_box, hint
from milon_app.session import job_form as F

ChooseFile = Callable[[], str]  # returns a path, or "" when cancelled
RULE_HINTS = {
    "fedavg": "fedavg — average weighted by samples (fast; trusts every member)",
    "median": "median — per-weight median (robust to a few bad updates)",
    "trimmed-mean": "trimmed-mean — average without the extremes",
    "krum": "krum — the update closest to its neighbours",
    "multi-krum": "multi-krum — average of the most central updates",
}


def _row(*widgets: QWidget) -> QWidget:
    """Widgets side by side in one form cell, the first one stretching."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        row.addWidget(widget, 1 if i == 0 else 0)
    return box


class ModelPage(QWizardPage):
    """Federation, model (template or JSON file), built-in dataset, initial weights."""

    def __init__(self, wizard: JobWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Model and data")
        self.setSubTitle("Which federation trains what, on which data its members hold.")
        self.federation = QComboBox()
        self.model = QComboBox()
        for key, label in F.MODEL_TEMPLATES.items():
            self.model.addItem(label, key)
        self.model.addItem("From a JSON file…", F.FROM_FILE)
        self.spec_path = QLineEdit()
        self.spec_path.setReadOnly(True)
        self.spec_path.setPlaceholderText("no file chosen")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.w.choose_spec_file)
        self.weights_path = QLineEdit()
        self.weights_path.setReadOnly(True)
        self.weights_path.setPlaceholderText("fresh weights from the seed")
        self.browse_weights = QPushButton("Browse…")
        self.browse_weights.clicked.connect(self.w.choose_weights_file)
        self.clear_weights = QPushButton("Clear")
        self.clear_weights.clicked.connect(lambda: self.w.set_init_weights(""))
        self.dataset = QComboBox()
        for key, shape in F.DATASETS.items():
            self.dataset.addItem(shape.label, key)
        self.summary = hint("")
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(
            form_box(
                "Job",
                [
                    ("Federation", self.federation),
                    ("Model", self.model),
                    ("Spec file", _row(self.spec_path, self.browse)),
                    (
                        "Start from",
                        _row(self.weights_path, self.browse_weights, self.clear_weights),
                    ),
                    ("Dataset", self.dataset),
                ],
            )
        )
        layout.addWidget(self.summary)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self.model.currentIndexChanged.connect(self.update_view)
        self.dataset.currentIndexChanged.connect(self.update_view)

    def update_view(self) -> None:
        from_file = self.model.currentData() == F.FROM_FILE
        self.spec_path.setEnabled(from_file)
        self.browse.setEnabled(from_file)
        self.error.setText("")
        self.summary.setText("")
        if from_file and not self.spec_path.text():
            self.summary.setText("Choose a model spec JSON file (it is validated before use).")
            return
        try:
            form = self.w.form()
            spec = F.resolve_spec(form)
            F.check_fits(spec, form.dataset)
            given = F.load_init_weights(form, spec) is not None
            start = f"; starts from {Path(form.init_weights).name}" if given else ""
            self.summary.setText(f"Model: {F.describe_spec(spec)}{start}")
        except Exception as exc:  # shown now, and enforced again on Next
            self.error.setText(describe_error(exc))

    def validatePage(self) -> bool:
        if self.w.facts is None:
            self.error.setText("Still reading the federations from the chain…")
            return False
        try:
            form = self.w.form()
            spec = F.resolve_spec(form)
            F.check_fits(spec, form.dataset)
            F.load_init_weights(form, spec)  # released weights must fit the spec exactly
            self.w.facts.federation(form.fed_id)
        except Exception as exc:
            self.error.setText(describe_error(exc))
            return False
        self.error.setText("")
        return True


class TrainingPage(QWizardPage):
    """Rounds, epochs, reward, rule, committee size, shared data, and what it will cost."""

    def __init__(self, wizard: JobWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Training and reward")
        self.setSubTitle("The escrow (total epochs x reward) leaves your wallet when you finish.")
        self.rounds = QSpinBox()
        self.rounds.setRange(1, F.MAX_ROUNDS)
        self.rounds.setValue(2)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1_000_000)  # the chain's own limit is checked, with a reason
        self.epochs.setValue(3)
        self.reward = QLineEdit("1")
        self.reward.setPlaceholderText("MILON per accepted epoch, e.g. 1.5")
        self.rule = QComboBox()
        for name in RULE_NAMES:
            self.rule.addItem(RULE_HINTS.get(name, name), name)
        self.committee = QSpinBox()
        self.committee.setRange(0, F.MAX_COMMITTEE)  # governed bounds: checked, with a reason
        self.committee.setSpecialValueText("governed default")
        self.committee_hint = hint("")
        self.shared = QCheckBox("Shared data: split my copy of the dataset into one shard a member")
        self.privacy = PrivacyFields()
        self.estimate = QLabel("")
        self.estimate.setObjectName("estimate")
        self.estimate.setWordWrap(True)
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(
            form_box(
                "Training",
                [
                    ("Total rounds", self.rounds),
                    ("Epochs per round", self.epochs),
                    ("Reward per epoch (MILON)", self.reward),
                    ("Aggregation rule", self.rule),
                    ("Committee size", self.committee),
                    ("", self.committee_hint),
                    ("", self.shared),
                ],
            )
        )
        layout.addWidget(
            hint(
                "Each round's epochs are split across the federation's members by capacity; "
                "a committee drawn by stake judges every update and confirms the new model. "
                "Rejected updates are neither paid nor aggregated."
            )
        )
        layout.addWidget(self.privacy)
        layout.addWidget(self.estimate)
        layout.addWidget(self.error)
        layout.addStretch(1)
        for spin in (self.rounds, self.epochs, self.committee):
            spin.valueChanged.connect(self.update_estimate)
        self.reward.textChanged.connect(self.update_estimate)
        self.privacy.changed.connect(self.update_estimate)  # clears the page's last error

    def initializePage(self) -> None:
        # the privacy fields start from what the chosen spec carries (the model page has
        # refused a bad spec before this one is shown)
        with contextlib.suppress(MilonError):
            self.privacy.follow(F.resolve_spec(self.w.form()))

    def update_estimate(self) -> None:
        self.error.setText("")
        if self.w.facts is None:
            self.estimate.setText("Escrow: reading your balance…")
            return
        form = self.w.form()
        est = F.estimate(form, self.w.facts.balance)
        self.committee_hint.setText(
            f"{self.w.facts.committee_text}. {F.committee_note(form, self.w.facts)}".strip()
        )
        self.estimate.setText(est.text)
        self.estimate.setStyleSheet("" if est.enough else f"color: {ERROR_COLOR};")

    def validatePage(self) -> bool:
        if self.w.job_id is not None:  # published: let the wizard close
            return True
        if self.w.facts is None:
            self.error.setText("Still reading your balance from the chain…")
            return False
        try:
            F.build_request(self.w.form(), self.w.facts)
        except Exception as exc:
            self.error.setText(describe_error(exc))
            return False
        self.w.submit()
        return False  # the wizard closes itself once the chain has the job


class JobWizard(QWizard):
    """Two pages; Finish publishes on a worker thread and closes only on success."""

    created = Signal(int)  # job id

    def __init__(
        self,
        ctx: GuiContext,
        parent: QWidget | None = None,
        *,
        choose_file: ChooseFile | None = None,
        choose_weights: ChooseFile | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Create a training job")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.facts: F.ChainFacts | None = None
        self.busy = False
        self.job_id: int | None = None
        self._choose_file = choose_file or self._file_dialog
        self._choose_weights = choose_weights or self._weights_dialog
        self.model_page = ModelPage(self)
        self.training_page = TrainingPage(self)
        self.addPage(self.model_page)
        self.addPage(self.training_page)
        self.model_page.update_view()
        self.training_page.update_estimate()
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create job")
        self.resize(640, 680)
        core = ctx.session.core
        ctx.runner.run(
            lambda: F.read_facts(core), self._got_facts, self._facts_failed, what="read federations"
        )

    @property
    def ready(self) -> bool:
        return self.facts is not None

    # -- facts from the chain ------------------------------------------------------------------
    def _got_facts(self, facts: F.ChainFacts) -> None:
        self.facts = facts
        combo = self.model_page.federation
        combo.clear()
        for fed in facts.federations:
            combo.addItem(fed.label, fed.fed_id)
        if not facts.federations:
            self.model_page.error.setText(
                "There is no federation on chain yet: found one in the Federations tab first."
            )
        else:
            self.model_page.update_view()
        self.training_page.update_estimate()

    def _facts_failed(self, exc: BaseException) -> None:
        self.model_page.error.setText(f"Could not read the chain: {describe_error(exc)}")

    # -- the form ------------------------------------------------------------------------------
    def form(self) -> F.JobForm:
        m, t = self.model_page, self.training_page
        return F.JobForm(
            fed_id=int(m.federation.currentData() or 0),
            model=str(m.model.currentData()),
            spec_file=m.spec_path.text(),
            dataset=str(m.dataset.currentData()),
            rounds=t.rounds.value(),
            epochs_per_round=t.epochs.value(),
            reward_per_epoch=t.reward.text(),
            rule=str(t.rule.currentData()),
            committee=t.committee.value(),
            shared=t.shared.isChecked(),
            init_weights=m.weights_path.text(),
            privacy=t.privacy.entries(),
        )

    def choose_spec_file(self) -> None:
        path = self._choose_file()
        if path:
            self.set_spec_file(path)

    def set_spec_file(self, path: str | Path) -> None:
        """Pick the JSON spec (what Browse… does after its dialog); validated at once."""
        m = self.model_page
        m.model.setCurrentIndex(m.model.findData(F.FROM_FILE))
        m.spec_path.setText(str(path))
        m.update_view()

    def choose_weights_file(self) -> None:
        path = self._choose_weights()
        if path:
            self.set_init_weights(path)

    def set_init_weights(self, path: str | Path) -> None:
        """Start from these released weights ("" for a fresh init); validated at once."""
        self.model_page.weights_path.setText(str(path))
        self.model_page.update_view()

    def _weights_dialog(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Start from weights", str(Path.home()), "Weights (*.safetensors);;All files (*)"
        )
        return path

    def _file_dialog(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Model spec", str(Path.home()), "Model spec (*.json);;All files (*)"
        )
        return path

    def error_text(self) -> str:
        """The message on the current page (tests, and a status line)."""
        lab = getattr(self.currentPage(), "error", None)  # each page keeps its error line
        return lab.text() if isinstance(lab, QLabel) else ""

    # -- publishing ----------------------------------------------------------------------------
    def submit(self) -> None:
        if self.busy:
            return
        self.busy = True
        self._set_buttons(False)
        form, core = self.form(), self.ctx.session.core
        self.training_page.estimate.setText("Publishing the job: approving and escrowing…")
        self.ctx.runner.run(
            lambda: F.submit(core, form), self._created, self._failed, what="create job"
        )

    def _created(self, job_id: int) -> None:
        self.busy = False
        self.job_id = job_id
        self._set_buttons(True)
        self.ctx.notify("Job created", f"Job {job_id} published; its escrow is on chain.")
        self.created.emit(job_id)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self._set_buttons(True)
        self.training_page.update_estimate()
        self.training_page.error.setText(f"The job was not created: {describe_error(exc)}")

    def _set_buttons(self, enabled: bool) -> None:
        for which in (
            QWizard.WizardButton.FinishButton,
            QWizard.WizardButton.BackButton,
            QWizard.WizardButton.CancelButton,
        ):
            self.button(which).setEnabled(enabled)
