"""The create-job form without Qt: values in, a checked :class:`JobRequest` out.

The wizard only collects values; everything that decides whether a job may
be published (the model fits the data, epochs are within the chain's limits,
the escrow is covered) lives here, so it is unit-tested without a window and
the same rules hold for any other front-end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from milon_app.chain.bindings import DEPLOYED_COMMITTEE, AggregationRule
from milon_app.compute.datasets import BUILTINS, DatasetSpec
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp, tabular_mlp
from milon_app.errors import BadInputError, NotFoundError
from milon_app.federation.privacy import planned_rounds
from milon_app.federation.privacy import summary as privacy_summary
from milon_app.federation.types import RULE_NAMES
from milon_app.session.privacy_view import privacy_from_entries
from milon_app.units import format_amount, parse_amount

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore
    from milon_app.node.owner import JobRequest

MAX_ROUNDS = 1_000
MAX_UINT32 = 2**32 - 1
DEFAULT_MAX_EPOCHS_PER_ROUND = 10_000  # governed max-epochs-per-round at deployment
# Governed committee bounds at deployment (committee-min, -default, -max); read from the chain.
DEFAULT_COMMITTEE = DEPLOYED_COMMITTEE
MAX_COMMITTEE = 64  # the hard ceiling of committee-max
FROM_FILE = "file"

# Template id -> what the combo shows. "tabular_mlp" is sized to the chosen dataset.
MODEL_TEMPLATES: dict[str, str] = {
    "digits_mlp": "Digits MLP (64 → 128 → 64 → 10)",
    "digits_cnn": "Digits CNN (1x8x8 images)",
    "tabular_mlp": "Tabular MLP (features → 32 → classes, sized to the dataset)",
}


@dataclass(frozen=True)
class DatasetShape:
    """What a built-in dataset feeds a model: values per sample and classes."""

    features: int
    classes: int
    label: str


# Checked against the real loaders in the unit tests, so this table cannot drift.
DATASETS: dict[str, DatasetShape] = {
    "digits": DatasetShape(64, 10, "Digits (8x8 handwritten digits, 10 classes)"),
    "wine": DatasetShape(13, 3, "Wine (13 features, 3 classes)"),
    "breast_cancer": DatasetShape(30, 2, "Breast cancer (30 features, 2 classes)"),
}
assert set(DATASETS) == set(BUILTINS)


@dataclass(frozen=True)
class FederationChoice:
    fed_id: int
    name: str
    active_members: int

    @property
    def label(self) -> str:
        return f"#{self.fed_id} {self.name} ({self.active_members} active members)"


@dataclass(frozen=True)
class ChainFacts:
    """What the form is checked against; read from the chain on a worker thread."""

    federations: tuple[FederationChoice, ...]
    balance: int
    max_epochs_per_round: int = DEFAULT_MAX_EPOCHS_PER_ROUND
    committee: tuple[int, int, int] = DEFAULT_COMMITTEE  # governed (min, default, max)

    @property
    def committee_text(self) -> str:
        low, default, high = self.committee
        return f"0 = the governed default ({default}); otherwise {low}..{high}"

    def federation(self, fed_id: int) -> FederationChoice:
        for fed in self.federations:
            if fed.fed_id == fed_id:
                return fed
        known = ", ".join(str(f.fed_id) for f in self.federations) or "none yet"
        raise NotFoundError(f"federation {fed_id} does not exist on chain (known: {known})")


def read_facts(core: NodeCore) -> ChainFacts:
    """Blocking: federations, the user's MILON balance and the governed job limits."""
    from milon_app.chain.bindings import Param

    m = core.milon
    feds = tuple(
        FederationChoice(i, m.federation(i).name, len(m.active_members(i)))
        for i in range(1, m.federation_count() + 1)
    )
    p = m.params()
    committee = (p[Param.COMMITTEE_MIN], p[Param.COMMITTEE_DEFAULT], p[Param.COMMITTEE_MAX])
    return ChainFacts(feds, m.balance(core.address), p[Param.MAX_EPOCHS_PER_ROUND], committee)


@dataclass(frozen=True)
class JobForm:
    """The wizard's fields as entered (text where the user types free text)."""

    fed_id: int
    model: str = "digits_mlp"  # a MODEL_TEMPLATES id or FROM_FILE
    spec_file: str = ""  # the JSON file when model == FROM_FILE
    dataset: str = "digits"
    rounds: int = 1
    epochs_per_round: int = 3
    reward_per_epoch: str = "1"  # MILON
    rule: str = "fedavg"
    committee: int = 0  # validator committee size; 0: the governed default
    shared: bool = False
    seed: int = 0
    init_weights: str = ""  # a .safetensors file to start from (fine-tuning); "": seeded init
    # The privacy fields as typed ({"mode": "client-dp", "epsilon": "8", ...}); None: the
    # spec's own setting (a JSON spec may carry one), as `job create` without --dp.
    privacy: Mapping[str, str] | None = None

    @property
    def total_epochs(self) -> int:
        return self.rounds * self.epochs_per_round


@dataclass(frozen=True)
class Estimate:
    """The live cost line: escrow = total epochs x reward, against the balance."""

    total_epochs: int
    reward: int | None  # wei; None while the reward text is not an amount
    balance: int

    @property
    def escrow(self) -> int | None:
        return None if self.reward is None else self.total_epochs * self.reward

    @property
    def enough(self) -> bool:
        return self.escrow is not None and self.escrow <= self.balance

    @property
    def text(self) -> str:
        have = f"your balance: {grouped(self.balance)} MILON"
        if self.escrow is None:
            return f"Escrow: enter a reward per epoch · {have}"
        line = (
            f"Escrow: {self.total_epochs:,} epochs x {grouped(self.reward or 0)} = "
            f"{grouped(self.escrow)} MILON · {have}"
        )
        if self.enough:
            return f"{line} — enough"
        return f"{line} — short by {grouped(self.escrow - self.balance)} MILON"


def grouped(wei: int) -> str:
    """Exact MILON with thousands separators: ``5,000,000`` or ``1,234.5``."""
    whole, _, frac = format_amount(wei).partition(".")
    sign = "-" if whole.startswith("-") else ""
    text = f"{sign}{int(whole.lstrip('-')):,}"
    return f"{text}.{frac}" if frac else text


def estimate(form: JobForm, balance: int) -> Estimate:
    try:
        reward: int | None = parse_amount(form.reward_per_epoch, "reward per epoch")
    except BadInputError:
        reward = None
    return Estimate(max(form.total_epochs, 0), reward, balance)


# -- models and data ---------------------------------------------------------------------------
def dataset_shape(name: str) -> DatasetShape:
    if name not in DATASETS:
        raise BadInputError(
            f"dataset {name!r} is not a built-in one: expected {', '.join(DATASETS)}"
        )
    return DATASETS[name]


def load_spec_file(path: str | Path) -> ModelSpec:
    """A model spec from a file someone handed us: bounded, validated, errors say what."""
    p = Path(path).expanduser()
    if not str(path).strip():
        raise BadInputError("choose a model spec JSON file")
    if p.is_dir():
        raise BadInputError(f"model spec {p} is a folder, not a JSON file")
    try:
        return ModelSpec.from_file(p)
    except BadInputError as exc:
        text = str(exc)
        raise BadInputError(
            text if text.startswith(str(p)) else f"model spec {p.name}: {text}"
        ) from None
    except OSError as exc:
        raise BadInputError(f"model spec {p} cannot be read: {exc.strerror or exc}") from None


def resolve_spec(form: JobForm) -> ModelSpec:
    """The form's model: a template (sized to the dataset if tabular) or the JSON file."""
    if form.model == FROM_FILE:
        return load_spec_file(form.spec_file)
    if form.model == "digits_mlp":
        return digits_mlp()
    if form.model == "digits_cnn":
        return digits_cnn()
    if form.model == "tabular_mlp":
        shape = dataset_shape(form.dataset)
        return tabular_mlp(shape.features, shape.classes)
    raise BadInputError(
        f"model {form.model!r} is not a template ({', '.join(MODEL_TEMPLATES)}) or a file"
    )


def load_init_weights(form: JobForm, spec: ModelSpec) -> bytes | None:
    """The released weights the job starts from, checked against its spec; None: fresh."""
    if not form.init_weights.strip():
        return None
    from milon_app.compute.init_weights import check_initial, read_weights_file

    path = Path(form.init_weights).expanduser()
    blob = read_weights_file(path)
    check_initial(spec, blob, source=path.name)
    return blob


def check_fits(spec: ModelSpec, dataset: str) -> None:
    """The check a node makes before training (Dataset.for_model), made before publishing."""
    shape = dataset_shape(dataset)
    size = math.prod(spec.input_shape)
    if size != shape.features:
        raise BadInputError(
            f"the model takes inputs of shape {list(spec.input_shape)} ({size} values) but "
            f"dataset {dataset} has {shape.features} features per sample: choose a model "
            f"sized for {dataset} (the tabular MLP fits any built-in dataset)"
        )
    if spec.num_classes < shape.classes:
        raise BadInputError(
            f"the model outputs {spec.num_classes} class scores but dataset {dataset} has "
            f"{shape.classes} classes"
        )


def describe_spec(spec: ModelSpec) -> str:
    return (
        f"{spec.param_count():,} parameters · input {list(spec.input_shape)} · "
        f"{spec.num_classes} classes · {spec.optimizer.type}, batch {spec.batch_size}"
    )


# -- the whole form ----------------------------------------------------------------------------
def check_numbers(form: JobForm, facts: ChainFacts) -> None:
    """Rounds, epochs, reward, rule and committee; raises BadInputError naming the field."""
    fed = facts.federation(form.fed_id)
    if not 1 <= form.rounds <= MAX_ROUNDS:
        raise BadInputError(f"total rounds must be 1..{MAX_ROUNDS}, got {form.rounds}")
    if form.epochs_per_round < 1:
        raise BadInputError(f"epochs per round must be at least 1, got {form.epochs_per_round}")
    if form.epochs_per_round > facts.max_epochs_per_round:
        raise BadInputError(
            f"too many epochs: {form.epochs_per_round} epochs per round is over the chain's "
            f"limit of {facts.max_epochs_per_round}"
        )
    if form.total_epochs > MAX_UINT32:
        raise BadInputError(f"too many epochs: {form.total_epochs} in total is over {MAX_UINT32}")
    reward = parse_amount(form.reward_per_epoch, "reward per epoch")
    if reward == 0:
        raise BadInputError("reward per epoch must be more than 0 MILON")
    if form.rule not in RULE_NAMES:
        raise BadInputError(f"aggregation rule {form.rule!r} is not one of {', '.join(RULE_NAMES)}")
    low, _default, high = facts.committee
    if form.committee and not low <= form.committee <= high:
        raise BadInputError(
            f"committee size {form.committee} is outside the governed bounds: "
            f"{facts.committee_text}"
        )
    if form.shared and fed.active_members < 1:
        raise BadInputError(
            f"federation {fed.fed_id} has no active members to hand shared-data shards to"
        )
    est = estimate(form, facts.balance)
    if not est.enough:
        raise BadInputError(
            f"insufficient balance: the job escrows {grouped(est.escrow or 0)} MILON "
            f"({form.total_epochs:,} epochs x {form.reward_per_epoch.strip()}) but you hold "
            f"{grouped(facts.balance)} MILON"
        )


def committee_note(form: JobForm, facts: ChainFacts) -> str:
    """Who will judge the updates: the wizard says it under the committee size."""
    try:
        members = facts.federation(form.fed_id).active_members
    except NotFoundError:
        return ""
    size = form.committee or facts.committee[1]
    if size >= members:
        return f"Every round, all {members} active members sit on the committee and vote."
    return (
        f"Every round, {size} of the {members} active members are drawn by stake to judge each "
        "update; a majority of their stake decides."
    )


def build_request(form: JobForm, facts: ChainFacts) -> JobRequest:
    """Everything checked, in the order a user fixes it: model and data, then numbers."""
    from milon_app.node.owner import JobRequest

    spec = resolve_spec(form)
    check_fits(spec, form.dataset)
    init = load_init_weights(form, spec)
    check_numbers(form, facts)
    if form.privacy is not None:
        spec = spec.with_privacy(privacy_from_entries(form.privacy))
    spec.privacy.check_job(form.total_epochs)  # dp-sgd's max_epochs within the job's epochs
    fed = facts.federation(form.fed_id)
    return JobRequest(
        fed_id=form.fed_id,
        spec=spec,
        dataset=DatasetSpec(kind="builtin", name=form.dataset, test_fraction=0.2, seed=form.seed),
        total_epochs=form.total_epochs,
        epochs_per_round=form.epochs_per_round,
        reward_per_epoch=parse_amount(form.reward_per_epoch, "reward per epoch"),
        rule=AggregationRule(RULE_NAMES[form.rule]),
        committee_size=form.committee,
        seed=form.seed,
        shared_shards=fed.active_members if form.shared else 0,
        init_weights=init,
    )


def submit(core: NodeCore, form: JobForm) -> int:
    """Blocking: re-read the chain (the balance may have moved), check, publish the job."""
    req = build_request(form, read_facts(core))
    # the accountant refuses what it cannot meet, as `job create` does (its first use
    # imports opacus, seconds: here on the worker, never in build_request on the GUI thread)
    privacy_summary(req.spec.privacy, planned_rounds(req.total_epochs, req.epochs_per_round))
    return core.owner.create_job(req)
