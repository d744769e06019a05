"""``milon job create --init-weights FILE | --init-from-job ID``: fine-tuning from given weights.

Good weights become the job's initial model byte for byte (its sha256 is the file's and
round 1's base); bad ones are refused with the reason and a non-zero exit before anything
is written on chain or escrowed. Runs against a private anvil devnet like the other chain
CLI tests (tests/integration/test_cli_chain_cmds.py, whose fixtures these are).
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.compute.weights import encode_state
from milon_app.exit_codes import ExitCode
from tests.integration import test_cli_chain_cmds as C

devnet, chain, home, milon = C.devnet, C.chain, C.home, C.milon  # the fixtures, reused


def released(tmp_path, state, name="released.safetensors", metadata=None):
    path = tmp_path / name
    path.write_bytes(encode_state(state, metadata))
    return path


def nothing_written(chain, before):
    from milon_app.chain.bindings import Milon

    m = Milon(chain.suite)
    assert m.job_count() == 0
    assert m.balance(chain.dev(3).address) == before  # nothing escrowed


def test_job_starts_from_given_weights_and_round_one_trains_them(milon, chain, tmp_path):
    from milon_app.chain.bindings import Milon

    C.make_fed(milon)
    for i in (2, 4):
        C.ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    # not what encode_state would write for a seeded init: metadata, another seed
    path = released(tmp_path, digits_mlp().build(42).state_dict(), metadata={"from": "test"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    job = C.ok(milon(*C.job_create_args("--init-weights", path)))
    assert job["initial_model_hash"] == digest == job["global_model_hash"]
    assert job["initial_weights"] == str(path)
    human = C.ok(milon(*C.job_create_args("--init-weights", path), json_out=False))
    assert f"initial weights: {path} ({digest[:16]}" in human
    chain.client.forget_nonces()
    m = Milon(chain.suite)
    r = m.start_round(chain.dev(3), 1)
    assert m.round(1, r).base_model_hash.hex() == digest


@pytest.mark.parametrize(
    ("make", "code", "needle"),
    [
        (lambda p: p / "missing.safetensors", ExitCode.NOT_FOUND, "does not exist"),
        (lambda p: p, ExitCode.BAD_INPUT, "is not a file"),
        (
            lambda p: (p / "w.pt").write_bytes(b"\x80\x04 pickle, not safetensors") and p / "w.pt",
            ExitCode.BAD_INPUT,
            "not usable safetensors weights",
        ),
        (
            lambda p: released(p, digits_cnn().build(0).state_dict()),
            ExitCode.BAD_INPUT,
            "does not fit the job's model spec",
        ),
        (
            lambda p: released(
                p, {**digits_mlp().build(0).state_dict(), "0.weight": torch.zeros(128, 65)}
            ),
            ExitCode.BAD_INPUT,
            "tensor '0.weight': shape (128, 65) differs from (128, 64)",
        ),
        (
            lambda p: released(
                p, {k: v.double() for k, v in digits_mlp().build(0).state_dict().items()}
            ),
            ExitCode.BAD_INPUT,
            "dtype torch.float64 differs from torch.float32",
        ),
        (
            lambda p: released(
                p,
                {**digits_mlp().build(0).state_dict(), "0.bias": torch.full((128,), float("nan"))},
            ),
            ExitCode.BAD_INPUT,
            "NaN or Inf",
        ),
    ],
    ids=[
        "missing",
        "folder",
        "not-safetensors",
        "other-model",
        "wrong-shape",
        "wrong-dtype",
        "nan",
    ],
)
def test_bad_init_weights_are_refused_before_the_chain(milon, chain, tmp_path, make, code, needle):
    from milon_app.chain.bindings import Milon

    C.make_fed(milon)
    before = Milon(chain.suite).balance(chain.dev(3).address)
    C.fail(milon(*C.job_create_args("--init-weights", make(tmp_path))), code, needle)
    nothing_written(chain, before)


def test_init_weights_and_init_from_job_exclude_each_other(milon, tmp_path):
    with pytest.raises(SystemExit) as gone:
        milon(*C.job_create_args("--init-weights", tmp_path / "w", "--init-from-job", 1))
    assert gone.value.code == ExitCode.USAGE


def test_job_starts_from_a_completed_jobs_final_model(milon, chain, home, tmp_path):
    from milon_app.chain.bindings import Milon

    members = C._two_members(milon, chain)
    C.fail(milon(*C.job_create_args("--init-from-job", 1)), ExitCode.BAD_INPUT, "not completed")
    _updates, final = C._play_round(chain, home, 1, members)
    before = Milon(chain.suite).balance(chain.dev(3).address)
    C.fail(milon(*C.job_create_args("--init-from-job", 9)), ExitCode.NOT_FOUND, "job 9 does not exist")
    other = C.job_create_args("--init-from-job", 1)
    other = (*other[:5], "digits-cnn", *other[6:])
    C.fail(milon(*other), ExitCode.BAD_INPUT, "its model spec", "differs from this job's")
    from milon_app.store.blobs import BlobStore

    store = BlobStore(home / "data" / "blobs")
    blob = store.get(final)
    assert store.delete(final)
    C.fail(milon(*C.job_create_args("--init-from-job", 1)), ExitCode.NOT_FOUND, "not in the local store")
    m = Milon(chain.suite)
    assert m.job_count() == 1 and m.balance(chain.dev(3).address) == before
    store.put(blob, "weights")
    job = C.ok(milon(*C.job_create_args("--init-from-job", 1)))
    assert job["id"] == 2 and job["initial_model_hash"] == final
    assert job["initial_weights"] == "job 1's final model"
    assert "job:2" in store.pins.owners(final)  # served to job 2's members too
