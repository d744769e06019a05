"""The create-job wizard's privacy fields: the setting ``milon job create --dp`` builds.

Every mode of ``privacy_spec.MODES`` is offered, so a mode added there shows up here.
The fields hold text; :func:`privacy_from_entries` checks them the
way ``PrivacySpec.from_dict`` checks a spec file, and the error line names the field.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QLineEdit, QVBoxLayout, QWidget

from milon_app.compute.model_spec import ModelSpec
from milon_app.compute.privacy_spec import DEFAULT_CLIP, DEFAULT_DELTA, MODES
from milon_app.gui.tasks import describe_error
from milon_app.gui.widgets import error_label, form_box, hint
from milon_app.session.privacy_view import privacy_from_entries

MODE_HINTS = {
    "none": "none — updates are sent as trained",
    "client-dp": "client-dp — each member clips its update and adds Gaussian noise",
    "dp-sgd": "dp-sgd — each member clips and noises every training step",
}
EXPLAIN = (
    "A job with differential privacy bounds what any update reveals about a member's data: "
    "(epsilon, delta) for the whole job, spent round by round. Members decline rounds that "
    "would take them past it or past their own ceiling (settings: privacy.max_epsilon)."
)


class PrivacyFields(QWidget):
    """Mode, epsilon, delta, clip and (dp-sgd) max epochs; ``entries()`` is what the form
    carries."""

    changed = Signal()  # after every edit, once the fields are checked

    def __init__(self) -> None:
        super().__init__()
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(MODE_HINTS.get(mode, mode), mode)
        self.epsilon = QLineEdit()
        self.epsilon.setPlaceholderText("target for the whole job, e.g. 8")
        self.delta = QLineEdit()
        self.delta.setPlaceholderText(f"{DEFAULT_DELTA:g}")
        self.clip = QLineEdit()
        self.clip.setPlaceholderText(f"{DEFAULT_CLIP:g} (update norm bound)")
        self.max_epochs = QLineEdit()  # dp-sgd only: the bound each member's noise is sized for
        self.max_epochs.setPlaceholderText(
            "the job's total epochs (dp-sgd: most one member trains)"
        )
        self.error = error_label()
        self._followed = ""  # the spec whose own setting the fields were last set from
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(
            form_box(
                "Privacy",
                [
                    ("Mode", self.mode),
                    ("Epsilon", self.epsilon),
                    ("Delta", self.delta),
                    ("Clip", self.clip),
                    ("Max epochs", self.max_epochs),
                ],
            )
        )
        layout.addWidget(hint(EXPLAIN))
        layout.addWidget(self.error)
        self.mode.currentIndexChanged.connect(self.check)
        for edit in (self.epsilon, self.delta, self.clip, self.max_epochs):
            edit.textChanged.connect(self.check)
        self.check()

    def entries(self) -> dict[str, str]:
        mode = str(self.mode.currentData())
        if mode == "none":
            return {"mode": mode}
        fields = {"epsilon": self.epsilon, "delta": self.delta, "clip": self.clip}
        if mode == "dp-sgd":
            fields["max_epochs"] = self.max_epochs
        return {"mode": mode, **{k: e.text() for k, e in fields.items()}}

    def check(self) -> bool:
        """Enable the numbers only with a mode; say what is wrong under the fields."""
        on = self.mode.currentData() != "none"
        for edit in (self.epsilon, self.delta, self.clip):
            edit.setEnabled(on)
        self.max_epochs.setEnabled(self.mode.currentData() == "dp-sgd")
        try:
            privacy_from_entries(self.entries())
        except Exception as exc:
            self.error.setText(describe_error(exc))
            self.changed.emit()
            return False
        self.error.setText("")
        self.changed.emit()
        return True

    def follow(self, spec: ModelSpec) -> None:
        """Start from the setting a chosen spec carries (once per spec: edits are kept)."""
        digest = spec.spec_hash()
        if digest == self._followed:
            return
        self._followed = digest
        p = spec.privacy
        index = self.mode.findData(p.mode)
        self.mode.setCurrentIndex(max(index, 0))
        self.epsilon.setText(f"{p.epsilon:g}" if p.enabled else "")
        self.delta.setText(f"{p.delta:g}" if p.enabled else "")
        self.clip.setText(f"{p.clip:g}" if p.enabled else "")
        self.max_epochs.setText(str(p.max_epochs) if p.max_epochs else "")
