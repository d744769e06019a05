"""A job's privacy setting, carried inside its model spec (issue 23).

The model spec's sha256 is already the job's on-chain ``modelSpecHash``, so a
``privacy`` object in the spec binds the setting to the job without a contract
change. A spec without one (``mode`` none) serialises exactly as before, so the
hashes of older specs do not move; nor does a dp-sgd setting without ``max_epochs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from milon_app.errors import BadInputError

MODES = ("none", "client-dp", "dp-sgd")
# (epsilon, delta) a job may ask for: epsilon above 100 protects nothing a reader could name,
# delta must stay well below 1/n for any realistic n.
MAX_EPSILON = 100.0
MAX_DELTA = 0.01
DEFAULT_DELTA = 1e-5
MAX_CLIP = 1e6
DEFAULT_CLIP = 1.0
_KEYS = {"mode", "epsilon", "delta", "clip", "max_epochs"}
MAX_EPOCHS_LIMIT = 2**32 - 1  # a job's total_epochs is a uint32 on chain


@dataclass(frozen=True)
class PrivacySpec:
    """``mode`` with a target (epsilon, delta) for the whole job and the update norm bound."""

    mode: str = "none"
    epsilon: float = 0.0
    delta: float = DEFAULT_DELTA
    clip: float = DEFAULT_CLIP
    # dp-sgd: the most epochs one contributor trains on the job, the bound its noise is sized
    # for; 0: the job's total_epochs (see epoch_bound). Not in the dict when 0.
    max_epochs: int = 0

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @classmethod
    def from_dict(cls, obj: Any) -> PrivacySpec:
        """Checked setting; every error names the field (``privacy.<field>``)."""
        if not isinstance(obj, dict):
            raise BadInputError("privacy must be an object with mode, epsilon, delta, clip")
        unknown = sorted(set(obj) - _KEYS)
        if unknown:
            raise BadInputError(f"privacy has unknown key {unknown[0]!r}")
        mode = obj.get("mode", "none")
        if mode not in MODES:
            raise BadInputError(f"privacy.mode {mode!r} is not one of {', '.join(MODES)}")
        if mode == "none":
            extra = sorted(set(obj) - {"mode"})
            if extra:
                raise BadInputError(f"privacy.{extra[0]} is set but privacy.mode is 'none'")
            return cls()
        if "epsilon" not in obj:
            raise BadInputError(f"privacy.epsilon is required for mode {mode!r}")
        if "max_epochs" in obj and mode != "dp-sgd":
            raise BadInputError(f"privacy.max_epochs is for mode 'dp-sgd' only, not {mode!r}")
        return cls(
            mode=str(mode),
            epsilon=_number(obj["epsilon"], "epsilon", 0.0, MAX_EPSILON),
            delta=_number(obj.get("delta", DEFAULT_DELTA), "delta", 0.0, MAX_DELTA),
            clip=_number(obj.get("clip", DEFAULT_CLIP), "clip", 0.0, MAX_CLIP),
            max_epochs=_epochs(obj["max_epochs"]) if "max_epochs" in obj else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        if not self.enabled:
            return {"mode": "none"}
        out: dict[str, Any] = {
            "mode": self.mode,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "clip": self.clip,
        }
        if self.max_epochs:  # absent: the spec hashes exactly as before the field existed
            out["max_epochs"] = self.max_epochs
        return out

    def epoch_bound(self, total_epochs: int) -> int:
        """dp-sgd: the most epochs one contributor trains on a job of ``total_epochs``
        (``max_epochs``, or every epoch of the job when it sets none)."""
        return self.max_epochs or total_epochs

    def check_job(self, total_epochs: int) -> None:
        """Refuse a ``max_epochs`` over the job's ``total_epochs`` (the spec alone does not
        know the job's size: job create, the demo and the owner call this)."""
        if self.max_epochs > total_epochs:
            raise BadInputError(
                f"privacy.max_epochs {self.max_epochs} is over the job's total_epochs "
                f"{total_epochs}"
            )


NO_PRIVACY = PrivacySpec()


def option_message(message: str) -> str:
    """A setting's error (``privacy.max_epochs ...``) as the command-line option that set it
    (``--dp-max-epochs ...``), for ``job create`` and ``demo``."""
    head, sep, tail = message.partition("privacy.")
    if not sep:
        return message
    name, space, rest = tail.partition(" ")
    return f"{head}--dp-{name.replace('_', '-')}{space}{rest}"


def _epochs(value: Any) -> int:
    """An integer in [1, MAX_EPOCHS_LIMIT]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInputError(f"privacy.max_epochs must be an integer, got {value!r}")
    if not 1 <= value <= MAX_EPOCHS_LIMIT:
        raise BadInputError(f"privacy.max_epochs {value} is not in [1, {MAX_EPOCHS_LIMIT}]")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A finite number in (low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"privacy.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not low < v <= high:
        raise BadInputError(f"privacy.{name} {value!r} is not in ({low:g}, {high:g}]")
    return v
