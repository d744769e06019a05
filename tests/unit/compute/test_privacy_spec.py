"""A job's privacy setting lives in its model spec (issue 23): validated with the field
named, bound to the job by the spec hash, and absent from specs that do not ask for it."""

from __future__ import annotations

import json

import pytest

from milon_app.compute.builtin_models import BUILTIN_MODELS
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.privacy_spec import NO_PRIVACY, PrivacySpec
from milon_app.errors import BadInputError

# The built-in specs' hashes before the privacy key existed (commit 75dd83f): jobs created
# with them must keep resolving to the same on-chain modelSpecHash.
HASHES_BEFORE = {
    "digits_cnn": "f412941db272d0e60f89942a661672674c2042a425d91faea87e4b4520c38c8f",
    "digits_mlp": "73a1e863ec2fa625a886f8d45f6129f6d71b7f9e482386ee5083c7d37a01256d",
    "resnet18-cifar": "51782a56ba2d04ea31065a7acf01a5a0f52ebdf9195f89f63d6b743bfc414fd9",
    "resnet8-cifar": "0379296a06ab5e09cc56ffbbef338a189edb20202eae1baadd80b4c3f5bd1dcd",
    "text-transformer": "273998734b8ddacbc157a0d132c16766a786b06cfd53295cc755b66975d9fb32",
}
DP = {"mode": "client-dp", "epsilon": 8.0, "delta": 1e-5, "clip": 1.0}
SGD = {**DP, "mode": "dp-sgd"}


def test_builtin_specs_hash_as_before_and_carry_no_privacy():
    assert {name: make().spec_hash() for name, make in BUILTIN_MODELS.items()} == HASHES_BEFORE
    assert all(make().privacy == NO_PRIVACY for make in BUILTIN_MODELS.values())
    # an explicit "none" is the same spec (same hash) as no key at all
    d = digits_mlp().to_dict()
    assert (
        ModelSpec.from_dict({**d, "privacy": {"mode": "none"}}).spec_hash()
        == HASHES_BEFORE["digits_mlp"]
    )


def test_privacy_round_trips_and_changes_the_hash():
    spec = digits_mlp().with_privacy(PrivacySpec.from_dict(DP))
    assert spec.privacy == PrivacySpec("client-dp", 8.0, 1e-5, 1.0)
    assert spec.spec_hash() != HASHES_BEFORE["digits_mlp"]
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.spec_hash() == spec.spec_hash()
    assert json.loads(spec.to_json())["privacy"] == DP
    other = digits_mlp().with_privacy(PrivacySpec.from_dict({**DP, "epsilon": 4.0}))
    assert other.spec_hash() != spec.spec_hash()  # the target is bound to the job
    assert spec.with_privacy(NO_PRIVACY).spec_hash() == HASHES_BEFORE["digits_mlp"]


def test_defaults_fill_delta_and_clip():
    p = PrivacySpec.from_dict({"mode": "client-dp", "epsilon": 2})
    assert (p.epsilon, p.delta, p.clip) == (2.0, 1e-5, 1.0)


@pytest.mark.parametrize(
    ("privacy", "message"),
    [
        ("client-dp", "privacy must be an object"),
        ({"mode": "local"}, "privacy.mode 'local' is not one of none, client-dp, dp-sgd"),
        ({"mode": "dp-sgd"}, "privacy.epsilon is required for mode 'dp-sgd'"),
        ({"mode": "client-dp"}, "privacy.epsilon is required"),
        ({**DP, "epsilon": 0}, "privacy.epsilon 0 is not in (0, 100]"),
        ({**DP, "epsilon": float("inf")}, "privacy.epsilon inf is not in"),
        ({**DP, "epsilon": "8"}, "privacy.epsilon must be a number"),
        ({**DP, "delta": 0.5}, "privacy.delta 0.5 is not in (0, 0.01]"),
        ({**DP, "clip": -1}, "privacy.clip -1 is not in"),
        ({**DP, "clip": True}, "privacy.clip must be a number"),
        ({**DP, "sigma": 1}, "privacy has unknown key 'sigma'"),
        ({"mode": "none", "epsilon": 8}, "privacy.epsilon is set but privacy.mode is 'none'"),
        ({**SGD, "max_epochs": 0}, "privacy.max_epochs 0 is not in [1, 4294967295]"),
        ({**SGD, "max_epochs": 2**32}, "privacy.max_epochs 4294967296 is not in [1,"),
        ({**SGD, "max_epochs": 40.0}, "privacy.max_epochs must be an integer, got 40.0"),
        ({**SGD, "max_epochs": True}, "privacy.max_epochs must be an integer"),
        ({**DP, "max_epochs": 40}, "privacy.max_epochs is for mode 'dp-sgd' only"),
        ({"mode": "none", "max_epochs": 40}, "privacy.max_epochs is set but privacy.mode is"),
    ],
)
def test_bad_settings_name_the_field(privacy, message):
    with pytest.raises(BadInputError) as err:
        ModelSpec.from_dict({**digits_mlp().to_dict(), "privacy": privacy})
    assert message in str(err.value)


def test_max_epochs_is_bound_to_the_job_and_absent_changes_nothing():
    """Without max_epochs a dp-sgd spec serialises (and hashes) as it did before the field;
    with it, the bound is in the spec whose hash the job records on chain."""
    plain = digits_mlp().with_privacy(PrivacySpec.from_dict(SGD))
    assert json.loads(plain.to_json())["privacy"] == SGD  # no max_epochs key
    bounded = digits_mlp().with_privacy(PrivacySpec.from_dict({**SGD, "max_epochs": 40}))
    assert bounded.privacy.max_epochs == 40 and bounded.spec_hash() != plain.spec_hash()
    assert ModelSpec.from_json(bounded.to_json()) == bounded
    assert plain.privacy.epoch_bound(160) == 160 and bounded.privacy.epoch_bound(160) == 40
    bounded.privacy.check_job(40)
    with pytest.raises(
        BadInputError, match="privacy.max_epochs 40 is over the job's total_epochs 39"
    ):
        bounded.privacy.check_job(39)
