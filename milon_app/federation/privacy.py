"""Client-level differential privacy (issue 23): the accountant and the noising of an update.

In ``client-dp`` a contributor releases one update per round it takes part in: its
delta from the round's base model, clipped to L2 norm ``clip`` and with Gaussian noise
added. Two data sets of one contributor that differ in any record (or in everything)
give clipped deltas at most ``2 * clip`` apart, so the release is a Gaussian mechanism
of sensitivity ``SENSITIVITY_PER_CLIP * clip`` and noise ``sigma`` times that. Every
round is one such release on the contributor's whole data (sample rate 1); Opacus' RDP
accountant composes them: :func:`noise_multiplier` finds the ``sigma`` that keeps the
job's planned rounds within its (epsilon, delta), :func:`epsilon_spent` reports what a
number of releases cost.

The noise seed comes from the operating system's randomness each time: a seed derived
from anything public (job, round, address) would let anyone subtract the noise.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from milon_app.compute.privacy_spec import PrivacySpec

SENSITIVITY_PER_CLIP = 2.0  # replace-one adjacency: two clipped deltas differ by <= 2 * clip
EPSILON_TOLERANCE = 0.01  # the noise search stops within this of the target (never above it)
MAX_RELEASES = 10_000
MAX_STEPS = 10_000_000  # dp-sgd: optimizer steps a contributor may run on one job


def planned_rounds(total_epochs: int, epochs_per_round: int) -> int:
    """Rounds a job runs when every round does its full epochs (the contract's plan)."""
    if total_epochs < 1 or epochs_per_round < 1:
        raise BadInputError(
            f"a job needs total_epochs >= 1 and epochs_per_round >= 1, "
            f"got {total_epochs} and {epochs_per_round}"
        )
    return math.ceil(total_epochs / epochs_per_round)


def _check(epsilon: float, delta: float, releases: int, sample_rate: float = 1.0) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise BadInputError(f"epsilon must be a positive number, got {epsilon}")
    if not 0 < delta < 1:
        raise BadInputError(f"delta must be in (0, 1), got {delta}")
    if not 0 < sample_rate <= 1:
        raise BadInputError(f"sample rate must be in (0, 1], got {sample_rate}")
    if sample_rate == 1.0 and not 1 <= releases <= MAX_RELEASES:
        raise BadInputError(f"rounds must be in 1..{MAX_RELEASES}, got {releases}")
    if not 1 <= releases <= MAX_STEPS:
        raise BadInputError(f"steps must be in 1..{MAX_STEPS}, got {releases}")


@functools.lru_cache(maxsize=256)
def noise_multiplier(epsilon: float, delta: float, rounds: int, sample_rate: float = 1.0) -> float:
    """The smallest sigma (within EPSILON_TOLERANCE) whose ``rounds`` releases (client-dp)
    or steps (dp-sgd) at ``sample_rate`` cost at most (epsilon, delta) under the RDP
    accountant (Poisson sampling)."""
    _check(epsilon, delta, rounds, sample_rate)
    from opacus.accountants.utils import get_noise_multiplier

    with _quiet():
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=rounds,
                accountant="rdp",
                epsilon_tolerance=EPSILON_TOLERANCE,
            )
        )


@functools.lru_cache(maxsize=1024)
def epsilon_spent(sigma: float, releases: int, delta: float, sample_rate: float = 1.0) -> float:
    """Epsilon after ``releases`` rounds (or dp-sgd steps at ``sample_rate``) at noise
    multiplier ``sigma`` (0 for none)."""
    if releases == 0:
        return 0.0
    _check(1.0, delta, releases, sample_rate)
    if not (math.isfinite(sigma) and sigma > 0):
        raise BadInputError(f"noise multiplier must be positive, got {sigma}")
    from opacus.accountants import RDPAccountant

    acct = RDPAccountant()
    acct.history = [(sigma, sample_rate, releases)]  # (noise multiplier, sample rate, steps)
    with _quiet():
        return float(acct.get_epsilon(delta))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Opacus warns when the best RDP order is its largest (few, weakly noised releases):
    the bound it returns is still valid, only looser than it could be."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def job_sigma(privacy: PrivacySpec, rounds: int) -> float:
    """The job's noise multiplier: fixed by its spec and its planned rounds."""
    if privacy.mode != "client-dp":
        raise BadInputError(f"privacy mode {privacy.mode!r} has no client noise")
    return noise_multiplier(privacy.epsilon, privacy.delta, rounds)


def noise_std(privacy: PrivacySpec, sigma: float) -> float:
    """Standard deviation of the Gaussian noise on every coordinate of an update."""
    return sigma * SENSITIVITY_PER_CLIP * privacy.clip


def fresh_seed() -> int:
    """63 bits of the operating system's randomness: nobody can recompute the noise."""
    return int.from_bytes(os.urandom(8), "big") >> 1


def noise_seed(run_seed: int) -> int:
    """The seed of one dp-sgd training run's noise: :func:`fresh_seed`, whatever ``run_seed``.

    ``run_seed`` (the run's training seed, public: it follows job, round and address) is
    never mixed in. It is passed so that a test can replace this function with one of it
    and get the same noise for the same member and round, whatever order the members'
    training threads ask in (a counter in place of :func:`fresh_seed` hands seeds out in
    that order, so two runs of a federation differ).
    """
    del run_seed
    return fresh_seed()


def delta_norm(base: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> float:
    """L2 norm of (state - base) over the floating tensors, in float64."""
    import torch

    total = 0.0
    for k, t in state.items():
        if torch.is_floating_point(t):
            d = t.detach().to(torch.float64) - base[k].detach().to(torch.float64)
            total += float((d * d).sum())
    return math.sqrt(total)


def privatize(
    base: dict[str, torch.Tensor], state: dict[str, torch.Tensor], clip: float, std: float
) -> dict[str, torch.Tensor]:
    """base + clip(state - base) + N(0, std^2) on every floating tensor; other tensors
    (integer counters) are kept as trained. The seed is fresh OS randomness."""
    import torch

    if set(base) != set(state):
        raise BadInputError("the trained state and the base model hold different tensors")
    norm = delta_norm(base, state)
    scale = min(1.0, clip / norm) if norm > 0 else 1.0
    gen = torch.Generator().manual_seed(fresh_seed())
    out: dict[str, torch.Tensor] = {}
    for k in sorted(state):
        t = state[k]
        if not torch.is_floating_point(t):
            out[k] = t.detach().clone()
            continue
        b = base[k].detach().to(torch.float64)
        d = (t.detach().to(torch.float64) - b) * scale
        noise = torch.randn(t.shape, generator=gen, dtype=torch.float64) * std
        out[k] = (b + d + noise).to(t.dtype).contiguous()
    return out


def summary(privacy: PrivacySpec, rounds: int, rounds_taken: int = 0) -> dict[str, Any]:
    """Mode, target, the noise multiplier for ``rounds`` planned rounds and the epsilon a
    contributor spent over ``rounds_taken`` releases (what reports and ``job show`` print)."""
    out: dict[str, Any] = {"mode": privacy.mode}
    if privacy.mode != "client-dp":
        return out
    sigma = job_sigma(privacy, rounds)
    out.update(
        epsilon=privacy.epsilon,
        delta=privacy.delta,
        clip=privacy.clip,
        rounds=rounds,
        noise_multiplier=sigma,
        noise_std=noise_std(privacy, sigma),
        epsilon_per_round=epsilon_spent(sigma, 1, privacy.delta),
        epsilon_job=epsilon_spent(sigma, rounds, privacy.delta),
        epsilon_spent=epsilon_spent(sigma, rounds_taken, privacy.delta),
    )
    return out
