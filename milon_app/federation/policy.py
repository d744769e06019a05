"""What a verdict says and which thresholds produce it: reason codes, verdicts, the policy.

The reason codes are stored on chain (uint8) and in contributors' logs, so
they are append-only. Every threshold is a documented constant with the
measurement behind it (docs/aggregation.md has the tables); the two the
chain governs, ``min_improvement_bps`` and ``sample_clip_bps``, are fields
of :class:`VerdictPolicy` that a node fills from the job's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from milon_app.errors import BadInputError
from milon_app.federation.clipping import DEFAULT_SAMPLE_CLIP_BPS
from milon_app.federation.fingerprints import HISTORY_ROUNDS, SKETCH_DIM


class Reason(IntEnum):
    """On-chain verdict codes (uint8). Never renumber: the contract and old logs store them."""

    ACCEPTED = 0
    UNAVAILABLE = 1  # the blob could not be fetched (set by the caller, see unavailable())
    MALFORMED = 2  # not a safetensors blob within the size limit
    INCOMPATIBLE = 3  # keys, shapes or dtypes differ from the base model
    NON_FINITE = 4  # NaN or Inf values
    BAD_SAMPLES = 5  # num_samples not a positive integer, over the job's max_samples or absurd
    UNCHANGED = 6  # exactly the base model: no training
    DUPLICATE = 7  # near-identical to another update of the same round
    REPLAY = 8  # near-identical to an update of an earlier round
    NO_IMPROVEMENT = 9  # a free rider: no real step, no improvement
    HARMFUL = 10  # makes the model much worse than the round's updates do


def reason_name(code: int) -> str:
    """A reason code as logs and front-ends show it (``harmful``); ``code N`` if unknown."""
    try:
        return Reason(code).name.lower()
    except ValueError:
        return f"code {code}"


@dataclass(frozen=True)
class Verdict:
    client_id: str
    reason: Reason
    detail: str  # a sentence with the numbers behind the decision
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.reason is Reason.ACCEPTED


HARM_FACTOR = 8.0  # honest updates measured up to 5.1x the round's median loss (skewed data)
SPREAD_Z = 25.0  # ... or this many robust deviations (1.4826 MAD, lower half) above the median
SPREAD_RATIO = 2.0  # ... when also this multiple of the median (tight IID rounds)
LOO_MARGIN = 0.1  # ... and the mean's loss drops > 10% of max(loss, ln classes) / n without it
ABSURD_FACTOR = 100.0  # a loss over 100x the median is harmful whatever the mean says
NEGLIGIBLE_STEP = 0.01  # honest steps measured >= 0.09x the round median; "base + noise" <= 0.0014x
SHORT_STEP = 0.05  # under this a step must also improve a class (min_improvement, pro rata)
DUPLICATE_COSINE = 0.9999  # honest pairs measured <= 0.967; colluders' jittered copies >= 1 - 1e-6
REPLAY_COSINE = 0.999999  # a client's own consecutive honest deltas measured <= 0.9995
MAX_PLAUSIBLE_SAMPLES = 2**48  # no dataset is that large: a bigger claim is a lie (e.g. 2^63)
CLASS_FLOOR = 0.1  # a class's reference gain is at least 10% of the round's median total gain
# an update whose median delta cosine with the round's others is below -0.5 points against
# the round (when it also improves no validation class and the mean is better without it):
# honest updates measured >= -0.47 (Krum and FedAvg; Dirichlet 0.1/0.3 and shards:2; digits
# and breast_cancer; 3 seeds); sign-flipped ones -0.04..-0.90 (IID), most below -0.5
DIRECTION_COSINE = 0.5
# a loss far above the round's is not HARMFUL when the update's best validation class gains at
# least this multiple of what the round's median update gains on its own best class: honest
# one-class updates (breast_cancer shards:2, 10 clients) had 5-9x the median loss and a mean
# better without them on 3 of 5 validators, yet gained 0.67-0.76 nats on their class; with one
# class per client (digits shards:1) honest best-class gains sit at 0.86-0.98 of the median, a
# sign flip's at 0.23 (the demo, round 3): half the median separates them
PROTECT_GAIN = 0.5


@dataclass(frozen=True)
class VerdictPolicy:
    """Every threshold of :func:`judge_round`; the first two are governed on chain.

    ``min_improvement_bps``: an update whose step is shorter than
    ``short_step`` (5%) of the round's median step must improve the loss of
    at least one class of the validation data by this fraction of the
    round's typical improvement on that class, pro rata to its step. Taken
    literally ("improve the loss by 20% of the round's median improvement")
    it slashes honest nodes: on label-skewed data an honest update improves
    only its own classes; at convergence, or under Krum (whose base jumps
    between clients' models), honest steps of 9-17% of the median improved
    no class of a validator's data at all. So the bar is per class, pro rata
    to the step, and only for steps shorter than any honest one measured.
    ``sample_clip_bps``: aggregation weighs ``num_samples`` clipped to this
    multiple of the round's median claim (see :mod:`.clipping`).
    """

    min_improvement_bps: int = 2000
    sample_clip_bps: int = DEFAULT_SAMPLE_CLIP_BPS
    max_samples: int = 0  # the job's cap on a claim (0: none); over it is BAD_SAMPLES
    harm_factor: float = HARM_FACTOR
    spread_z: float = SPREAD_Z
    spread_ratio: float = SPREAD_RATIO
    loo_margin: float = LOO_MARGIN
    absurd_factor: float = ABSURD_FACTOR
    negligible_step: float = NEGLIGIBLE_STEP
    short_step: float = SHORT_STEP
    duplicate_cosine: float = DUPLICATE_COSINE
    replay_cosine: float = REPLAY_COSINE
    direction_cosine: float = DIRECTION_COSINE
    protect_gain: float = PROTECT_GAIN
    class_floor: float = CLASS_FLOOR
    sketch_dim: int = SKETCH_DIM
    history_rounds: int = HISTORY_ROUNDS

    def __post_init__(self) -> None:
        ints = (
            "min_improvement_bps",
            "sample_clip_bps",
            "max_samples",
            "sketch_dim",
            "history_rounds",
        )
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInputError(f"verdict policy {name} must be an integer >= 0, got {value!r}")
        if self.min_improvement_bps > 10_000 or self.sample_clip_bps < 10_000:
            raise BadInputError(
                "verdict policy needs min_improvement_bps <= 10000 and sample_clip_bps >= 10000, "
                f"got {self.min_improvement_bps} and {self.sample_clip_bps}"
            )
        if self.sketch_dim < 1:
            raise BadInputError("verdict policy sketch_dim must be at least 1")
        floats = (
            "harm_factor",
            "spread_z",
            "spread_ratio",
            "loo_margin",
            "absurd_factor",
            "protect_gain",
        )
        for name in (*floats, "negligible_step", "short_step", "class_floor"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise BadInputError(f"verdict policy {name} must be a number >= 0, got {value!r}")
        for name in ("duplicate_cosine", "replay_cosine", "direction_cosine"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise BadInputError(f"verdict policy {name} must be in (0, 1], got {value!r}")

    @property
    def min_improvement(self) -> float:
        return self.min_improvement_bps / 10_000


DEFAULT_POLICY = VerdictPolicy()


def unavailable(client_id: str, why: str) -> Verdict:
    """The verdict for an update whose blob could not be fetched."""
    return Verdict(client_id, Reason.UNAVAILABLE, f"update could not be fetched: {why}")


def majority_accepts(
    verdicts: Sequence[Mapping[str, Verdict]], weights: Sequence[int] | None = None
) -> dict[str, bool]:
    """The contract's rule (for simulations): accept weight > half the weight that voted."""
    weights = list(weights) if weights is not None else [1] * len(verdicts)
    if len(weights) != len(verdicts):
        raise BadInputError(f"{len(verdicts)} committee members but {len(weights)} weights")
    accept: dict[str, int] = {}
    voted: dict[str, int] = {}
    for member, weight in zip(verdicts, weights, strict=True):
        for cid, verdict in member.items():
            voted[cid] = voted.get(cid, 0) + weight
            accept[cid] = accept.get(cid, 0) + (weight if verdict.accepted else 0)
    return {cid: 2 * accept[cid] > voted[cid] for cid in sorted(voted)}
