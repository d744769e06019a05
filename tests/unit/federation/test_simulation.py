"""End-to-end federated rounds on digits: honest FedAvg matches centralized training, and the
robust rules survive sign-flipped, scaled updates that wreck FedAvg.

Real trainer, real validation and aggregation through update bytes; only the
network and the chain are left out. Measured on the reference machine
(8 rounds x 4 local epochs, centralized 32 epochs: 97.2%): honest FedAvg 97.5%;
1 of 4 attacking: Median = TrimmedMean 96.7%, Krum 93.0%, Multi-Krum 97.8%, FedAvg 11%;
2 of 5 attacking: Median = TrimmedMean 91.4%, Krum 91.9%, Multi-Krum 95.3%, FedAvg 10%.
Krum keeps one client's model (a quarter or fifth of the data per round) and
a coordinate-wise median with 40% attackers sits at the edge of the honest
values, so those cases get wider bounds than the 1-of-4 Median/TrimmedMean.
"""

from __future__ import annotations

import pytest

from milon_app.compute.datasets import load_builtin
from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.partition import partition_iid
from milon_app.compute.trainer import evaluate, train
from milon_app.compute.weights import encode_state
from milon_app.errors import TrainingError
from milon_app.federation import (
    Aggregator,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    Submission,
    TrimmedMean,
    apply_delta,
    state_delta,
    validate_and_aggregate,
)

ROUNDS, LOCAL_EPOCHS = 8, 4
ATTACK_SCALE = 10.0
THREADS = 1  # same bits on every machine's core count, and no oversubscription on busy CI


@pytest.fixture(scope="module")
def setup():
    spec = digits_mlp()
    data = load_builtin("digits").for_model(spec)
    init = {k: v.detach().clone() for k, v in spec.build(0).state_dict().items()}
    central = train(
        spec,
        init,
        (data.x_train, data.y_train),
        epochs=ROUNDS * LOCAL_EPOCHS,
        seed=0,
        threads=THREADS,
    )
    _, central_acc = evaluate(spec, central.state, data.x_test, data.y_test)
    return spec, data, init, central_acc


def run_federation(setup, aggregator: Aggregator, n_clients: int, n_byzantine: int) -> float:
    """Test accuracy after ROUNDS rounds; the last ``n_byzantine`` clients attack."""
    spec, data, init, _ = setup
    parts = partition_iid(int(data.x_train.shape[0]), n_clients, seed=7)
    shards = [(data.x_train[p], data.y_train[p]) for p in parts]
    global_state = init
    for rnd in range(ROUNDS):
        subs = []
        for i, shard in enumerate(shards):
            cid = f"0x{i + 1:040x}"
            try:
                res = train(
                    spec,
                    global_state,
                    shard,
                    epochs=LOCAL_EPOCHS,
                    seed=100 * rnd + i,
                    threads=THREADS,
                )
            except TrainingError:  # a wrecked global model no longer trains: it collapsed
                return evaluate(spec, global_state, data.x_test, data.y_test)[1]
            update = res.update_bytes
            if i >= n_clients - n_byzantine:
                flipped = apply_delta(
                    global_state, state_delta(global_state, res.state), scale=-ATTACK_SCALE
                )
                update = encode_state(flipped)
            subs.append(Submission(cid, update, res.num_samples))
        outcome = validate_and_aggregate(aggregator, global_state, subs, max_bytes=1 << 20)
        global_state = outcome.result.state
    return evaluate(spec, global_state, data.x_test, data.y_test)[1]


def test_honest_fedavg_matches_centralized(setup):
    central_acc = setup[3]
    assert central_acc > 0.93
    fed_acc = run_federation(setup, FedAvg(), n_clients=4, n_byzantine=0)
    assert fed_acc >= central_acc - 0.01, (fed_acc, central_acc)


@pytest.mark.parametrize(
    ("n_clients", "n_byzantine", "robust"),
    [
        (
            4,
            1,
            [
                (Median(), 0.03),
                (TrimmedMean(beta=0.25), 0.03),
                (Krum(f=1), 0.06),
                (MultiKrum(f=1), 0.03),
            ],
        ),
        (
            5,
            2,
            [
                (Median(), 0.08),
                (TrimmedMean(beta=0.4), 0.08),
                (Krum(f=2), 0.08),
                (MultiKrum(f=2), 0.03),
            ],
        ),
    ],
    ids=["1-of-4", "2-of-5"],
)
def test_robust_rules_survive_sign_flip_attack(setup, n_clients, n_byzantine, robust):
    central_acc = setup[3]
    accuracies = {
        agg.name: (run_federation(setup, agg, n_clients, n_byzantine), gap) for agg, gap in robust
    }
    for name, (acc, gap) in accuracies.items():
        assert acc >= central_acc - gap, (name, acc, central_acc)
    collapsed = run_federation(setup, FedAvg(), n_clients, n_byzantine)
    assert collapsed < 0.5, (collapsed, accuracies)
