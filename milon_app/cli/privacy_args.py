"""``--dp MODE --dp-epsilon E [--dp-delta D] [--dp-clip C] [--dp-max-epochs M]``: a job's
privacy setting (issue 23).

The setting goes into the model spec (whose hash is on chain), so ``job create`` and
``demo`` share these options, and ``job show`` and the demo report describe the same
numbers: the target, the noise multiplier the accountant gives for the job's rounds, and
what one round costs a contributor.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from milon_app.compute.privacy_spec import (
    DEFAULT_CLIP,
    DEFAULT_DELTA,
    MODES,
    PrivacySpec,
    option_message,
)
from milon_app.errors import BadInputError

if TYPE_CHECKING:
    from milon_app.compute.model_spec import ModelSpec


def add_dp_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dp",
        choices=MODES,
        default=None,
        help="differential privacy: none, client-dp (each contributor clips its update and adds "
        "Gaussian noise) or dp-sgd (per-sample clipping and noise in every training step, "
        "Opacus); default: what the model spec says",
    )
    p.add_argument("--dp-epsilon", type=float, metavar="E", help="target epsilon for the job")
    p.add_argument(
        "--dp-delta", type=float, metavar="D", help=f"target delta (default {DEFAULT_DELTA:g})"
    )
    p.add_argument(
        "--dp-clip",
        type=float,
        metavar="C",
        help=f"client-dp: update norm bound; dp-sgd: per-sample gradient norm bound "
        f"(default {DEFAULT_CLIP:g})",
    )
    p.add_argument(
        "--dp-max-epochs",
        type=int,
        metavar="M",
        help="dp-sgd: the most epochs one contributor trains on the job; its noise is sized "
        "for M (at most the job's total epochs; default: the total)",
    )


def privacy_from_args(args: argparse.Namespace) -> PrivacySpec | None:
    """The setting the options ask for; None when ``--dp`` is not given (keep the spec's)."""
    mode = args.dp
    extras = {
        "epsilon": args.dp_epsilon,
        "delta": args.dp_delta,
        "clip": args.dp_clip,
        "max_epochs": getattr(args, "dp_max_epochs", None),
    }
    given = {k: v for k, v in extras.items() if v is not None}
    if mode is None:
        if given:
            first = next(iter(given)).replace("_", "-")
            raise BadInputError(f"--dp-{first} needs --dp client-dp or dp-sgd")
        return None
    if mode != "none" and "epsilon" not in given:
        raise BadInputError(f"--dp {mode} needs --dp-epsilon")
    try:
        return PrivacySpec.from_dict({"mode": mode, **given})
    except BadInputError as exc:
        raise BadInputError(option_message(str(exc))) from None


def apply_privacy(spec: ModelSpec, args: argparse.Namespace) -> ModelSpec:
    privacy = privacy_from_args(args)
    out = spec if privacy is None else spec.with_privacy(privacy)
    if out.privacy.mode == "dp-sgd":  # a layer DP-SGD cannot train ends here, named
        from milon_app.compute.dp_sgd import check_spec

        check_spec(out)
    return out


def privacy_text(d: dict[str, Any]) -> str:
    if d.get("mode") == "dp-sgd":
        if "epsilon" not in d:
            return "dp-sgd"
        text = f"dp-sgd: target epsilon {d['epsilon']:g} (delta {d['delta']:g}), clip {d['clip']:g}"
        if "max_epochs" in d:
            text += f", at most {d['max_epochs']} epochs a contributor"
        if "noise_multiplier" in d:
            text += (
                f"; epsilon {d['epsilon_spent']:.3g} spent, noise multiplier "
                f"{d['noise_multiplier']:.3g}, sample rate {d['sample_rate']:.3g}"
            )
        return text
    if d.get("mode") != "client-dp":
        return str(d.get("mode", "unknown"))
    return (
        f"client-dp: epsilon {d['epsilon_spent']:.3g} spent of {d['epsilon']:g} "
        f"(delta {d['delta']:g}; {d['epsilon_per_round']:.3g} a round, {d['rounds']} rounds); "
        f"clip {d['clip']:g}, noise multiplier {d['noise_multiplier']:.3g}"
    )
