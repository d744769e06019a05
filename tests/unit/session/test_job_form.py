"""The create-job form's rules without Qt or a chain: specs, data fit, limits, escrow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milon_app.chain.bindings import AggregationRule
from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import digits_mlp
from milon_app.errors import BadInputError, NotFoundError
from milon_app.session import job_form as F

WEI = 10**18
FACTS = F.ChainFacts(
    federations=(F.FederationChoice(1, "Simulated federation", 3),),
    balance=100 * WEI,
    max_epochs_per_round=10_000,
    committee=(3, 7, 31),
)


def form(**kw) -> F.JobForm:
    base = {
        "fed_id": 1,
        "model": "digits_mlp",
        "dataset": "digits",
        "rounds": 2,
        "epochs_per_round": 3,
        "reward_per_epoch": "1.5",
        "rule": "fedavg",
        "committee": 5,
    }
    base.update(kw)
    return F.JobForm(**base)


@pytest.mark.parametrize("name", list(F.DATASETS))
def test_dataset_table_matches_the_real_loaders(name):
    data = load_builtin(name)
    shape = F.DATASETS[name]
    assert int(data.x_train[0].numel()) == shape.features
    assert data.num_classes == shape.classes


def test_build_request_carries_every_field():
    req = F.build_request(form(rule="trimmed-mean", shared=True, seed=7), FACTS)
    assert req.fed_id == 1
    assert req.spec == digits_mlp()
    assert req.dataset.kind == "builtin" and req.dataset.name == "digits" and req.dataset.seed == 7
    assert req.total_epochs == 6 and req.epochs_per_round == 3
    assert req.reward_per_epoch == 3 * WEI // 2
    assert req.rule is AggregationRule.TRIMMED_MEAN
    assert req.committee_size == 5
    assert F.build_request(form(committee=0), FACTS).committee_size == 0  # governed default
    assert req.shared_shards == 3  # one shard per active member
    assert F.build_request(form(), FACTS).shared_shards == 0


@pytest.mark.parametrize("dataset", ["wine", "breast_cancer", "digits"])
def test_tabular_template_is_sized_to_the_dataset(dataset):
    spec = F.resolve_spec(form(model="tabular_mlp", dataset=dataset))
    F.check_fits(spec, dataset)
    assert spec.input_shape == (F.DATASETS[dataset].features,)
    assert spec.num_classes == F.DATASETS[dataset].classes


def test_digits_cnn_fits_digits_as_images():
    F.check_fits(F.resolve_spec(form(model="digits_cnn")), "digits")


def test_model_that_does_not_fit_the_data_is_refused():
    with pytest.raises(BadInputError, match=r"inputs of shape \[64\].*wine has 13 features"):
        F.build_request(form(dataset="wine"), FACTS)
    small = F.tabular_mlp(13, 2)  # wine has 3 classes
    with pytest.raises(BadInputError, match="outputs 2 class scores.*3 classes"):
        F.check_fits(small, "wine")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"reward_per_epoch": "0"}, "reward per epoch must be more than 0"),
        ({"reward_per_epoch": "-1"}, "is not a MILON amount"),
        ({"reward_per_epoch": "lots"}, "is not a MILON amount"),
        ({"epochs_per_round": 10_001}, "too many epochs: 10001 epochs per round is over"),
        ({"epochs_per_round": 0}, "epochs per round must be at least 1"),
        ({"rounds": 0}, "total rounds must be"),
        ({"rounds": F.MAX_ROUNDS + 1}, "total rounds must be"),
        (
            {"committee": 2},
            r"committee size 2 is outside the governed bounds: 0 = the governed "
            r"default \(7\); otherwise 3\.\.31",
        ),
        ({"committee": 32}, "committee size 32 is outside the governed bounds"),
        ({"rule": "mean"}, "aggregation rule 'mean' is not one of"),
        (
            {"reward_per_epoch": "20"},
            r"insufficient balance: the job escrows 120 MILON .* hold 100 MILON",
        ),
        ({"dataset": "mnist"}, "not a built-in one"),
        ({"model": "resnet"}, "is not a template"),
    ],
)
def test_bad_values_say_what_is_wrong(kw, message):
    with pytest.raises(BadInputError, match=message):
        F.build_request(form(**kw), FACTS)


def test_unknown_federation_is_named():
    with pytest.raises(NotFoundError, match=r"federation 9 does not exist.*known: 1"):
        F.build_request(form(fed_id=9), FACTS)


def test_estimate_is_total_epochs_times_reward_against_the_balance():
    est = F.estimate(form(rounds=4, epochs_per_round=5, reward_per_epoch="2"), 100 * WEI)
    assert est.total_epochs == 20 and est.escrow == 40 * WEI and est.enough
    assert "20 epochs x 2 = 40 MILON" in est.text and "enough" in est.text
    short = F.estimate(form(rounds=10, epochs_per_round=10, reward_per_epoch="1.5"), 100 * WEI)
    assert short.escrow == 150 * WEI and not short.enough
    assert "short by 50 MILON" in short.text
    blank = F.estimate(form(reward_per_epoch=""), 100 * WEI)
    assert blank.escrow is None and not blank.enough and "enter a reward" in blank.text


def test_grouped_amounts_are_exact():
    assert F.grouped(5_000_000 * WEI) == "5,000,000"
    assert F.grouped(1234 * WEI + WEI // 2) == "1,234.5"
    assert F.grouped(1) == "0.000000000000000001"
    assert F.grouped(-1500 * WEI) == "-1,500"


def test_exactly_the_balance_is_enough():
    facts = F.ChainFacts(FACTS.federations, balance=9 * WEI)
    F.build_request(form(reward_per_epoch="1.5"), facts)  # 6 epochs x 1.5 = 9


def test_spec_file_is_validated(tmp_path: Path):
    good = tmp_path / "good.json"
    good.write_text(F.tabular_mlp(13, 3).to_json())
    req = F.build_request(form(model=F.FROM_FILE, spec_file=str(good), dataset="wine"), FACTS)
    assert req.spec == F.tabular_mlp(13, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[" * 50 + b"]" * 50, "nested deeper than"),
        (b'{"input_shape": [64]}', "lacks 'layers'"),
        (
            json.dumps(
                {**digits_mlp().to_dict(), "layers": [{"type": "Exec", "cmd": "rm"}]}
            ).encode(),
            "Exec",
        ),
        (json.dumps({**digits_mlp().to_dict(), "evil": 1}).encode(), "unknown key 'evil'"),
        (b" " * (70 * 1024), "over"),
    ],
)
def test_malformed_or_hostile_spec_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message) as info:
        F.build_request(form(model=F.FROM_FILE, spec_file=str(path)), FACTS)
    assert "spec.json" in str(info.value)  # the file is named


def test_missing_or_unchosen_spec_file(tmp_path):
    with pytest.raises(BadInputError, match="choose a model spec"):
        F.resolve_spec(form(model=F.FROM_FILE, spec_file=""))
    with pytest.raises(NotFoundError, match="does not exist"):
        F.resolve_spec(form(model=F.FROM_FILE, spec_file=str(tmp_path / "nope.json")))
    with pytest.raises(BadInputError, match="is a folder"):
        F.resolve_spec(form(model=F.FROM_FILE, spec_file=str(tmp_path)))


def test_committee_bounds_come_from_the_chain_facts():
    narrow = F.ChainFacts(FACTS.federations, balance=100 * WEI, committee=(5, 5, 9))
    with pytest.raises(BadInputError, match=r"otherwise 5\.\.9"):
        F.build_request(form(committee=3), narrow)
    assert F.build_request(form(committee=9), narrow).committee_size == 9
    assert F.build_request(form(committee=31), FACTS).committee_size == 31


def test_committee_note_says_who_judges():
    # 3 active members, fewer than the default 7: all of them sit
    assert "all 3 active members sit on the committee" in F.committee_note(form(committee=0), FACTS)
    big = F.ChainFacts((F.FederationChoice(1, "big", 20),), balance=0, committee=(3, 7, 31))
    assert "7 of the 20 active members are drawn by stake" in F.committee_note(
        form(committee=0), big
    )
    assert "4 of the 20" in F.committee_note(form(committee=4), big)
    assert F.committee_note(form(fed_id=9), FACTS) == ""


def test_dp_sgd_max_epochs_must_fit_the_jobs_epochs():
    """The wizard's max epochs (dp-sgd) is checked against rounds x epochs a round (6)."""
    sgd = {"mode": "dp-sgd", "epsilon": "8", "max_epochs": "6"}
    assert F.build_request(form(privacy=sgd), FACTS).spec.privacy.max_epochs == 6
    with pytest.raises(
        BadInputError, match="privacy.max_epochs 7 is over the job's total_epochs 6"
    ):
        F.build_request(form(privacy={**sgd, "max_epochs": "7"}), FACTS)
