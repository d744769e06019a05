"""A job's privacy setting as the front-ends read and show it (issue 23), without Qt.

``milon job show`` and the window's owner dashboard read the same numbers the same way
(:func:`job_privacy`: the setting from the job's model spec, the accountant's figures for
its planned rounds, and the most a contributor can have spent); the create-job wizard
turns its typed entries into the checked setting ``milon job create --dp`` builds
(:func:`privacy_from_entries`), so a bad value is refused with the field named before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from milon_app.chain.bindings import Job, Milon
    from milon_app.store.blobs import BlobStore


def job_privacy(m: Milon, store: BlobStore, job_id: int, job: Job | None = None) -> dict[str, Any]:
    """The job's privacy summary, from its model spec when ``store`` holds it (else a mode
    that says why not); ``epsilon_spent`` is the most a contributor can have spent: one
    release per round begun. Blocking: reads the job from the chain unless given."""
    from milon_app.compute.model_spec import ModelSpec
    from milon_app.errors import MilonError

    j = job if job is not None else m.job(job_id)
    digest = j.params.model_spec_hash.hex()
    if not store.has(digest):
        return {"mode": "unknown (the model spec is not in this node's blob store)"}
    try:
        spec = ModelSpec.from_json(store.get(digest))
    except MilonError as exc:
        return {"mode": f"unknown ({exc})"}
    return setting_summary(
        spec.privacy, j.params.total_epochs, j.params.epochs_per_round, j.current_round
    )


def setting_summary(
    privacy: PrivacySpec, total_epochs: int, epochs_per_round: int, rounds_begun: int = 0
) -> dict[str, Any]:
    """The setting itself for every mode, the accountant's figures where the mode has them
    (client-dp; it refuses a target it cannot meet) and dp-sgd's epoch bound in force (the
    spec's max_epochs, else the job's total): what ``job create`` and ``job show`` print."""
    from milon_app.federation.privacy import planned_rounds, summary

    rounds = planned_rounds(total_epochs, epochs_per_round)
    out = {**privacy.to_dict(), **summary(privacy, rounds, min(rounds_begun, rounds))}
    if privacy.mode == "dp-sgd":
        out["max_epochs"] = privacy.epoch_bound(total_epochs)
    return out


def dashboard_text(d: Mapping[str, Any]) -> str:
    """The owner's line: the setting, epsilon per round, for the whole job, spent so far
    (each part only where the mode's summary gives it)."""
    if "epsilon" not in d:
        return f"Privacy: {d.get('mode', 'unknown')}"
    parts = [f"Privacy: {d['mode']}, target epsilon {d['epsilon']:g} (delta {d['delta']:g})"]
    if "clip" in d:
        parts[0] += f", clip {d['clip']:g}"
    if "max_epochs" in d:
        parts[0] += f", at most {d['max_epochs']} epochs a contributor"
    if "epsilon_per_round" in d and "epsilon_job" in d:
        parts.append(
            f"epsilon {d['epsilon_per_round']:.3g} a round, {d['epsilon_job']:.3g} for the "
            f"job's {d.get('rounds', '?')} rounds"
        )
    if "epsilon_spent" in d:
        parts.append(
            f"spent so far: at most {d['epsilon_spent']:.3g} by a contributor in every round begun"
        )
    return " · ".join(parts)


def spent_text(mode: str, spent: float, target: float | None, delta: float) -> str:
    """The Training tab's line: what a node's releases on the job cost, against the target."""
    of = f" of target {target:g}" if target is not None else ""
    return f"Privacy: {mode} · epsilon spent {spent:.3g}{of} (delta {delta:g})"


def privacy_from_entries(entries: Mapping[str, str]) -> PrivacySpec:
    """The wizard's typed entries (``mode`` and the numbers as text; blank: the default) as a
    checked setting; every error names ``privacy.<field>``, as PrivacySpec.from_dict does.
    ``max_epochs`` (dp-sgd) is a whole number; a blank one is the job's total epochs."""
    mode = entries.get("mode", "none")
    obj: dict[str, Any] = {"mode": mode}
    if mode != "none":
        for key, text in entries.items():
            if key == "mode" or not text.strip():
                continue
            obj[key] = _entry(key, text.strip())
    return PrivacySpec.from_dict(obj)


def _entry(key: str, text: str) -> float | int:
    """One typed number: from_dict refuses inf, nan and out-of-range values, naming the field."""
    try:
        return int(text) if key == "max_epochs" else float(text)
    except ValueError:
        kind = "a whole number" if key == "max_epochs" else "a number"
        raise BadInputError(f"privacy.{key} must be {kind}, got {text!r}") from None
