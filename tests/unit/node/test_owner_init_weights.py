"""A job that starts from released weights (fine-tuning), through the real node roles.

The owner publishes the given safetensors bytes as the initial model; members fetch
them as round 1's base, train from them, and the round finalizes. Weights that do not
fit the spec are refused before any blob is stored or any transaction is sent.
"""

from __future__ import annotations

import hashlib

import pytest

from milon_app.chain.bindings import JobStatus
from milon_app.compute.datasets import DatasetSpec, load_dataset
from milon_app.compute.model_spec import digits_cnn, digits_mlp
from milon_app.compute.trainer import train
from milon_app.compute.weights import encode_state
from milon_app.errors import BadInputError
from milon_app.node.owner import JobRequest
from milon_app.node.policy import AcceptPolicy
from tests.unit.node import test_roles

fed = test_roles.fed  # an owner and two contributors on the embedded chain (in-process hub)
ETHER = 10**18


def request(fed, init: bytes | None, spec=None) -> JobRequest:
    return JobRequest(
        fed_id=fed.fed_id,
        spec=spec or digits_mlp(),
        dataset=DatasetSpec(kind="builtin", name="digits"),
        total_epochs=4,
        epochs_per_round=4,
        reward_per_epoch=ETHER,
        init_weights=init,
    )


def test_round_one_trains_from_the_given_weights(fed):
    data = load_dataset(DatasetSpec(kind="builtin", name="digits"))
    pre = train(digits_mlp(), None, (data.x_train, data.y_train), epochs=3, seed=5, threads=1)
    blob = encode_state(pre.state, {"released": "digits_mlp, 3 epochs"})
    digest = hashlib.sha256(blob).hexdigest()
    for nd in fed.nodes:
        nd.policy = AcceptPolicy()  # both accept their epochs
    job_id = fed.owner.owner.create_job(request(fed, blob))
    assert fed.owner.milon.job(job_id).params.initial_model_hash.hex() == digest

    def status() -> JobStatus:
        return fed.owner.milon.job(job_id).status

    for _ in range(600):  # one round: 4 epochs, 2 each
        if status() is JobStatus.COMPLETED:
            break
        fed.tick()
    assert status() is JobStatus.COMPLETED
    assert fed.owner.milon.round(job_id, 1).base_model_hash.hex() == digest
    # every member fetched the released bytes themselves, not a re-encoding
    for nd in fed.nodes:
        assert nd.store.has(digest) and nd.store.get(digest) == blob
    results = fed.owner.state.round_results(job_id)
    assert results[0][2] is not None and results[0][2] > 0.85  # it started trained


@pytest.mark.parametrize(
    ("init", "needle"),
    [
        (b"not safetensors at all", "not usable safetensors weights"),
        (encode_state(digits_cnn().build(0).state_dict()), "does not fit the job's model spec"),
    ],
)
def test_weights_that_do_not_fit_are_refused_before_anything_is_written(fed, init, needle):
    before = fed.owner.milon.balance(fed.owner.address)
    with pytest.raises(BadInputError, match=needle):
        fed.owner.owner.create_job(request(fed, init))
    assert fed.owner.milon.job_count() == 0
    assert fed.owner.milon.balance(fed.owner.address) == before
    assert not fed.owner.store.has(hashlib.sha256(init).hexdigest())
