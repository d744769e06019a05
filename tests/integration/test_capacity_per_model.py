"""Capacity per job model on this CPU: 1 vs 2 torch threads, a CNN job and an MLP job.

Two machine configurations, each measured once in its own process (so the thread setting of
one cannot leak into the other): 1 torch thread and 2. Each measures the capacity benchmark
on the two jobs' own model specs, digits_cnn at batch 512 and digits_mlp at batch 32 (the spec
fixes the batch size, so its hash is what the declaration is keyed by). Two members of each
configuration declare what their configuration measured for each job's model (two, because
with two members the per-member cap makes every split an equal one); the contract then
splits each job by that job's own measurements.

No assertion depends on how fast anything is: how 2 threads compare with 1 on a loaded
2-core machine is whatever it is; the test checks that each job's split is the one the
measured ratio gives (largest remainder, to within one epoch of exact proportion) and that
the two jobs are split by different numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from milon_app.chain.bindings import Milon
from milon_app.compute.model_spec import ModelSpec, digits_cnn, digits_mlp
from tests.unit.contracts.helpers import (
    assignment,
    create_job,
    federation_with_members,
    round_split_reference,
    start_round,
)

SPECS = {"cnn": digits_cnn(512), "mlp": digits_mlp(32)}
SECONDS = 1.0
EPOCHS = 100  # per round: fine enough to show a ratio

_MEASURE = """
import json, sys
from milon_app.compute.benchmark import measure_capacity
from milon_app.compute.model_spec import ModelSpec
specs = json.loads(sys.stdin.read())
threads, seconds = int(sys.argv[1]), float(sys.argv[2])
out = {}
for name, text in specs.items():
    r = measure_capacity("cpu", ModelSpec.from_json(text), duration_s=seconds, threads=threads)
    assert r.threads == threads, (r.threads, threads)
    out[name] = r.score
print(json.dumps(out))
"""


def _measure(threads: int) -> dict[str, int]:
    """One process, ``threads`` torch threads: the score of each job's model spec."""
    specs = {name: spec.to_json() for name, spec in SPECS.items()}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(threads), str(SECONDS)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return {k: int(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


@pytest.fixture(scope="module")
def measured() -> dict[int, dict[str, int]]:
    """{threads: {job model: score}}, measured one configuration after the other."""
    return {threads: _measure(threads) for threads in (1, 2)}


def _key(spec: ModelSpec) -> bytes:
    return bytes.fromhex(spec.spec_hash())


def test_thread_counts_measure_and_split_each_job_by_its_own_model(
    client, suite, accounts, measured
):
    one, two = measured[1], measured[2]
    print(f"\nscores, 1 thread: {one}; 2 threads: {two}")
    assert one != two  # two configurations measure different capacities
    for scores in (one, two):  # and each measures its two models differently
        assert scores["cnn"] != scores["mlp"]

    owner, members = accounts[0], accounts[1:5]
    threads = [1, 1, 2, 2]
    fed = federation_with_members(client, suite, members, [1, 1, 1, 1]).fed_id
    m = Milon(suite)
    for who, t in zip(members, threads, strict=True):
        for name, spec in SPECS.items():
            m.set_model_capacity(who, fed, _key(spec), measured[t][name])

    splits = {}
    for name, spec in SPECS.items():
        job_id = create_job(client, suite, owner, fed, totalEpochs=EPOCHS, epochsPerRound=EPOCHS,
                            modelSpecHash=_key(spec))  # fmt: skip
        r = start_round(client, suite, job_id, owner)
        weights = [measured[t][name] for t in threads]
        got = [assignment(client, suite, job_id, r, w.address)[0] for w in members]
        used = [assignment(client, suite, job_id, r, w.address)[2] for w in members]
        assert got == round_split_reference(EPOCHS, weights), name
        # the split read this job's measurements (a member given 0 epochs has no assignment)
        assert [u for u, e in zip(used, got, strict=True) if e] == [
            w for w, e in zip(weights, got, strict=True) if e
        ], name
        # proportional to the measured ratio, to within one epoch (largest remainder)
        total = sum(weights)
        for e, w in zip(got, weights, strict=True):
            assert abs(e * total - EPOCHS * w) < total, (name, got, weights)
        splits[name] = got
        print(f"{name}: 2 vs 1 thread {weights[2] / weights[0]:.2f}x -> epochs {got}")
    # the two jobs are split by different measurements; their epochs follow each one's ratio
    assert [measured[t]["cnn"] for t in threads] != [measured[t]["mlp"] for t in threads]
