"""``milon job create --dp client-dp --dp-epsilon E`` and ``milon job show`` (issue 23): the
setting goes into the model spec whose hash the job records on chain, and both commands
print it with the noise multiplier the accountant gives for the job's rounds. Runs against
a private anvil devnet (the fixtures of tests/integration/test_cli_chain_cmds.py)."""

from __future__ import annotations

from milon_app.compute.model_spec import ModelSpec, digits_mlp
from milon_app.federation import privacy as P
from milon_app.store.blobs import BlobStore
from tests.integration import test_cli_chain_cmds as C

devnet, chain, home, milon = C.devnet, C.chain, C.home, C.milon  # the fixtures, reused
ROUNDS = 1  # 4 epochs, 4 a round (C.job_create_args)


def test_job_create_binds_the_privacy_setting_and_show_reports_it(milon, home):
    C.make_fed(milon)
    job = C.ok(
        milon(*C.job_create_args("--dp", "client-dp", "--dp-epsilon", "8", "--dp-clip", "0.5"))
    )
    sigma = P.noise_multiplier(8.0, 1e-5, ROUNDS)
    assert job["privacy"]["mode"] == "client-dp" and job["privacy"]["rounds"] == ROUNDS
    assert job["privacy"]["noise_multiplier"] == sigma and job["privacy"]["clip"] == 0.5
    spec = ModelSpec.from_json(BlobStore(home / "data" / "blobs").get(job["model_spec_hash"]))
    assert spec.privacy.epsilon == 8.0 and spec.privacy.clip == 0.5
    assert job["model_spec_hash"] == spec.spec_hash() != digits_mlp().spec_hash()
    show = C.ok(milon("job", "show", job["id"]))
    assert show["privacy"]["epsilon_spent"] == 0.0  # no round begun
    assert show["privacy"]["epsilon_job"] == P.epsilon_spent(sigma, ROUNDS, 1e-5) <= 8.0
    human = C.ok(milon("job", "show", job["id"], json_out=False))
    assert "client-dp: epsilon 0 spent of 8 (delta 1e-05" in human
    plain = C.ok(milon(*C.job_create_args()))
    assert plain["privacy"] == {"mode": "none"}
    assert plain["model_spec_hash"] == digits_mlp().spec_hash()
    bounded = C.ok(
        milon(*C.job_create_args("--dp", "dp-sgd", "--dp-epsilon", "8", "--dp-max-epochs", "3"))
    )
    assert bounded["privacy"]["max_epochs"] == 3  # of the job's 4 epochs
    spec = ModelSpec.from_json(BlobStore(home / "data" / "blobs").get(bounded["model_spec_hash"]))
    assert spec.privacy.max_epochs == 3 and bounded["model_spec_hash"] == spec.spec_hash()
    human = C.ok(milon("job", "show", bounded["id"], json_out=False))
    assert "dp-sgd: target epsilon 8 (delta 1e-05), clip 1, at most 3 epochs a contributor" in human
