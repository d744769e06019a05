"""``--dp`` options of ``milon job create`` and ``milon demo`` (issue 23), and the privacy
line ``milon job show`` prints from the job's model spec."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from milon_app.chain.bindings import AggregationRule, Job, JobParams, JobStatus
from milon_app.cli.cmd_job_show import privacy_data
from milon_app.cli.main import main
from milon_app.cli.privacy_args import add_dp_arguments, apply_privacy, privacy_text
from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P
from milon_app.store.blobs import BlobStore


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_dp_arguments(p)
    return p.parse_args(list(argv))


def test_dp_options_set_the_spec_privacy():
    spec = apply_privacy(digits_mlp(), _args("--dp", "client-dp", "--dp-epsilon", "4"))
    assert spec.privacy == PrivacySpec("client-dp", 4.0, 1e-5, 1.0)
    spec = apply_privacy(
        digits_mlp(),
        _args("--dp", "client-dp", "--dp-epsilon", "4", "--dp-delta", "1e-6", "--dp-clip", "2"),
    )
    assert spec.privacy == PrivacySpec("client-dp", 4.0, 1e-6, 2.0)
    assert apply_privacy(digits_mlp(), _args()) == digits_mlp()  # no --dp: the spec's own


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--dp", "client-dp"), "--dp client-dp needs --dp-epsilon"),
        (("--dp-epsilon", "4"), "--dp-epsilon needs --dp client-dp"),
        (("--dp", "client-dp", "--dp-epsilon", "-1"), "--dp-epsilon -1.0 is not in"),
        (("--dp", "client-dp", "--dp-epsilon", "4", "--dp-delta", "0.5"), "--dp-delta 0.5"),
        (("--dp", "dp-sgd"), "--dp dp-sgd needs --dp-epsilon"),
        (("--dp-max-epochs", "4"), "--dp-max-epochs needs --dp client-dp or dp-sgd"),
        (("--dp", "dp-sgd", "--dp-epsilon", "8", "--dp-max-epochs", "0"), "--dp-max-epochs 0 is"),
        (
            ("--dp", "client-dp", "--dp-epsilon", "8", "--dp-max-epochs", "4"),
            "--dp-max-epochs is for mode 'dp-sgd' only, not 'client-dp'",
        ),
    ],
)
def test_bad_dp_options_are_refused_by_name(argv, message):
    with pytest.raises(BadInputError) as err:
        apply_privacy(digits_mlp(), _args(*argv))
    assert message in str(err.value)


def test_dp_max_epochs_sets_the_bound():
    argv = ("--dp", "dp-sgd", "--dp-epsilon", "8", "--dp-max-epochs", "40")
    spec = apply_privacy(digits_mlp(), _args(*argv))
    assert spec.privacy == PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0, max_epochs=40)


def test_job_create_refuses_a_bound_over_the_jobs_epochs_before_touching_a_chain(capsys, tmp_path):
    code = main(
        ["--home", str(tmp_path), "job", "create", "--fed", "1", "--epochs", "30",
         "--model", "digits_mlp", "--dataset", "digits", "--reward-per-epoch", "1",
         "--dp", "dp-sgd", "--dp-epsilon", "8",
         "--dp-max-epochs", "31", "--rpc", "http://127.0.0.1:9"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code != 0 and "--dp-max-epochs 31 is over the job's total_epochs 30 (--epochs)" in err


def test_job_create_refuses_dp_sgd_on_batchnorm_before_touching_a_chain(capsys, tmp_path):
    code = main(
        ["--home", str(tmp_path), "job", "create", "--fed", "1", "--epochs", "4",
         "--model", "resnet8-cifar", "--dataset", "cifar10", "--reward-per-epoch", "1",
         "--dp", "dp-sgd", "--dp-epsilon", "8", "--rpc", "http://127.0.0.1:9"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code != 0 and "dp-sgd cannot train layer" in err and "BatchNorm2d" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--dp", "client-dp"), "--dp client-dp needs --dp-epsilon"),
        (("--dp", "client-dp", "--dp-epsilon", "300"), "--dp-epsilon 300.0 is not in (0, 100]"),
        (
            ("--dp", "dp-sgd", "--dp-epsilon", "8", "--rounds", "2", "--dp-max-epochs", "41"),
            "--dp-max-epochs 41 is over the job's total_epochs 40",
        ),
    ],
)
def test_demo_refuses_bad_dp_options_by_name(capsys, tmp_path, argv, message):
    code = main(["--home", str(tmp_path), "demo", *argv])
    _, err = capsys.readouterr()
    assert code != 0 and message in err


def _job_of(spec: ModelSpec, tmp_path) -> SimpleNamespace:
    """A chain holding one job of 40 epochs (10 a round, 2 rounds begun) whose model spec
    is in the node's blob store under ``tmp_path``."""
    store = BlobStore(tmp_path / "blobs")
    digest = store.put(spec.to_json().encode(), "model_spec", owner="owner")
    params = JobParams(
        1, bytes.fromhex(digest), b"\2" * 32, b"\3" * 32, 40, 10, 1, AggregationRule.FEDAVG, 0, 60
    )
    job = Job("0x" + "11" * 20, params, b"\3" * 32, 2, 10, 30, JobStatus.OPEN, b"\0" * 32)
    return SimpleNamespace(job=lambda job_id: job)


def test_job_show_reports_the_setting_from_the_stored_spec(tmp_path):
    spec = digits_mlp().with_privacy(PrivacySpec("client-dp", 8.0, 1e-5, 1.0))
    m = _job_of(spec, tmp_path)
    d = privacy_data(SimpleNamespace(data_dir=tmp_path), m, 1)  # type: ignore[arg-type]
    sigma = P.noise_multiplier(8.0, 1e-5, 4)
    assert d["noise_multiplier"] == sigma and d["rounds"] == 4
    assert d["epsilon_spent"] == P.epsilon_spent(sigma, 2, 1e-5)  # two rounds begun
    assert privacy_text(d).startswith(f"client-dp: epsilon {d['epsilon_spent']:.3g} spent of 8 ")
    missing = privacy_data(SimpleNamespace(data_dir=tmp_path / "other"), m, 1)  # type: ignore[arg-type]
    assert missing["mode"].startswith("unknown")


@pytest.mark.parametrize(("bound", "shown"), [(0, 40), (12, 12)])
def test_job_show_gives_dp_sgds_epoch_bound(tmp_path, bound, shown):
    """The bound in force: the spec's max_epochs, else the job's total epochs."""
    spec = digits_mlp().with_privacy(PrivacySpec("dp-sgd", 8.0, 1e-5, 1.0, max_epochs=bound))
    m = _job_of(spec, tmp_path)
    d = privacy_data(SimpleNamespace(data_dir=tmp_path), m, 1)  # type: ignore[arg-type]
    assert d["max_epochs"] == shown
    assert f"clip 1, at most {shown} epochs a contributor" in privacy_text(d)
