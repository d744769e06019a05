"""A job's privacy setting, carried inside its model spec (issue 23).

The model spec's sha256 is already the job's on-chain ``modelSpecHash``, so a
``privacy`` object in the spec binds the setting to the job without a contract
change. A spec without one (``mode`` none) serialises exactly as before, so the
hashes of older specs do not move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from milon_app.errors import BadInputError

MODES = ("none", "client-dp", "dp-sgd")
SUPPORTED_MODES = MODES
# (epsilon, delta) a job may ask for: epsilon above 100 protects nothing a reader could name,
# delta must stay well below 1/n for any realistic n.
MAX_EPSILON = 100.0
MAX_DELTA = 0.01
DEFAULT_DELTA = 1e-5
MAX_CLIP = 1e6
DEFAULT_CLIP = 1.0
_KEYS = {"mode", "epsilon", "delta", "clip"}


@dataclass(frozen=True)
class PrivacySpec:
    """``mode`` with a target (epsilon, delta) for the whole job and the update norm bound."""

    mode: str = "none"
    epsilon: float = 0.0
    delta: float = DEFAULT_DELTA
    clip: float = DEFAULT_CLIP

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
        if mode not in SUPPORTED_MODES:
            raise BadInputError(
                f"privacy.mode {mode!r} is not supported yet (supported: "
                f"{', '.join(SUPPORTED_MODES)})"
            )
        if mode == "none":
            extra = sorted(set(obj) - {"mode"})
            if extra:
                raise BadInputError(f"privacy.{extra[0]} is set but privacy.mode is 'none'")
            return cls()
        if "epsilon" not in obj:
            raise BadInputError(f"privacy.epsilon is required for mode {mode!r}")
        return cls(
            mode=str(mode),
            epsilon=_number(obj["epsilon"], "epsilon", 0.0, MAX_EPSILON),
            delta=_number(obj.get("delta", DEFAULT_DELTA), "delta", 0.0, MAX_DELTA),
            clip=_number(obj.get("clip", DEFAULT_CLIP), "clip", 0.0, MAX_CLIP),
        )

    def to_dict(self) -> dict[str, Any]:
        if not self.enabled:
            return {"mode": "none"}
        return {"mode": self.mode, "epsilon": self.epsilon, "delta": self.delta, "clip": self.clip}


NO_PRIVACY = PrivacySpec()


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A finite number in (low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"privacy.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not low < v <= high:
        raise BadInputError(f"privacy.{name} {value!r} is not in ({low:g}, {high:g}]")
    return v
