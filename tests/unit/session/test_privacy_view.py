"""The wizard's privacy entries and the dashboard's privacy line, without a window."""

from __future__ import annotations

import pytest

from milon_app.compute.privacy_spec import DEFAULT_CLIP, DEFAULT_DELTA, NO_PRIVACY, PrivacySpec
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P
from milon_app.session.privacy_view import dashboard_text, privacy_from_entries, spent_text


def test_entries_build_what_job_create_dp_builds():
    got = privacy_from_entries({"mode": "client-dp", "epsilon": " 8 ", "delta": "", "clip": "0.5"})
    assert got == PrivacySpec("client-dp", 8.0, DEFAULT_DELTA, 0.5)
    assert privacy_from_entries({"mode": "client-dp", "epsilon": "2"}).clip == DEFAULT_CLIP
    # numbers typed before the mode went back to none are not part of the setting
    assert privacy_from_entries({"mode": "none", "epsilon": "abc"}) == NO_PRIVACY


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ({"mode": "client-dp", "epsilon": ""}, "privacy.epsilon is required"),
        ({"mode": "client-dp", "epsilon": "8x"}, "privacy.epsilon must be a number, got '8x'"),
        ({"mode": "client-dp", "epsilon": "inf"}, "privacy.epsilon inf is not in (0, 100]"),
        ({"mode": "client-dp", "epsilon": "1", "delta": "nan"}, "privacy.delta nan is not in"),
        ({"mode": "client-dp", "epsilon": "1", "clip": "-1"}, "privacy.clip -1.0 is not in"),
        ({"mode": "laplace", "epsilon": "1"}, "privacy.mode 'laplace' is not one of"),
        (
            {"mode": "dp-sgd", "epsilon": "1", "max_epochs": "4.5"},
            "privacy.max_epochs must be a whole",
        ),
        ({"mode": "dp-sgd", "epsilon": "1", "max_epochs": "0"}, "privacy.max_epochs 0 is not in"),
        ({"mode": "client-dp", "epsilon": "1", "max_epochs": "4"}, "for mode 'dp-sgd' only"),
    ],
)
def test_bad_entries_name_the_field(entries, needle):
    with pytest.raises(BadInputError) as err:
        privacy_from_entries(entries)
    assert needle in str(err.value)


def test_dashboard_and_training_lines():
    assert dashboard_text({"mode": "none"}) == "Privacy: none"
    assert dashboard_text({"mode": "unknown (no spec)"}) == "Privacy: unknown (no spec)"
    d = P.summary(PrivacySpec("client-dp", 4.0, 1e-5, 2.0), rounds=5, rounds_taken=2)
    text = dashboard_text(d)
    assert text.startswith("Privacy: client-dp, target epsilon 4 (delta 1e-05), clip 2 · ")
    per_job = (
        f"epsilon {d['epsilon_per_round']:.3g} a round, {d['epsilon_job']:.3g} for the job's 5"
    )
    assert per_job in text

    assert f"spent so far: at most {d['epsilon_spent']:.3g}" in text
    assert 0 < d["epsilon_per_round"] < d["epsilon_spent"] < d["epsilon_job"] <= 4.0
    line = spent_text("client-dp", 1.23456, 4.0, 1e-5)
    assert line == "Privacy: client-dp · epsilon spent 1.23 of target 4 (delta 1e-05)"
    assert spent_text("client-dp", 0.5, None, 1e-5).endswith("spent 0.5 (delta 1e-05)")


def test_a_mode_without_the_accountants_figures_still_shows_its_target():
    d = {**PrivacySpec("client-dp", 8.0).to_dict(), "mode": "dp-sgd"}  # job_privacy's keys
    assert dashboard_text(d) == "Privacy: dp-sgd, target epsilon 8 (delta 1e-05), clip 1"


def test_dp_sgd_entries_carry_max_epochs_and_the_dashboard_shows_it():
    got = privacy_from_entries({"mode": "dp-sgd", "epsilon": "8", "max_epochs": " 40 "})
    assert got == PrivacySpec("dp-sgd", 8.0, DEFAULT_DELTA, DEFAULT_CLIP, max_epochs=40)
    assert (
        privacy_from_entries({"mode": "dp-sgd", "epsilon": "8", "max_epochs": ""}).max_epochs == 0
    )
    text = dashboard_text({**got.to_dict()})
    assert (
        text
        == "Privacy: dp-sgd, target epsilon 8 (delta 1e-05), clip 1, at most 40 epochs a contributor"
    )
