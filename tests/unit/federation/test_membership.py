"""Proof that client-dp protects (issue 23 item 4): a loss-threshold membership-inference
attack on the global model of a small FedAvg federation (4 members x 50 digits, 3 rounds
of 30 local epochs), members' samples against as many unseen test samples.

Without privacy the attack beats a coin toss; with client-dp at epsilon 8 it is a coin
toss. The AUCs are printed (``pytest -s``) and recorded in docs/privacy.md. The noise
seeds are counted rather than drawn from the OS, so the numbers are reproducible."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from milon_app.compute.model_spec import digits_mlp
from milon_app.compute.privacy_spec import PrivacySpec
from milon_app.demo_data import load_workload
from milon_app.errors import BadInputError
from milon_app.federation import privacy as P
from milon_app.federation.membership import attack_auc, federated_fit

CLIENTS, PER_CLIENT, ROUNDS, EPOCHS = 4, 50, 3, 30
# 200 members against 200 non-members: a coin toss's AUC has a standard deviation of
# about 0.029, so 0.55 is ~1.7 of them above it and 0.08 is ~2.7 of them around it.
LEAKS_ABOVE = 0.55
COIN_TOSS_WITHIN = 0.08


@pytest.fixture(scope="module")
def split():
    d = load_workload("", "digits", 0).data
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(d.x_train.shape[0], generator=g)[: CLIENTS * PER_CLIENT]
    parts = [(d.x_train[idx[i::CLIENTS]], d.y_train[idx[i::CLIENTS]]) for i in range(CLIENTS)]
    out = torch.randperm(d.x_test.shape[0], generator=g)[: CLIENTS * PER_CLIENT]
    return parts, (d.x_train[idx], d.y_train[idx]), (d.x_test[out], d.y_test[out])


def test_client_dp_turns_the_attack_into_a_coin_toss(split, monkeypatch):
    parts, members, non_members = split
    spec = digits_mlp()
    plain = federated_fit(spec, parts, rounds=ROUNDS, epochs=EPOCHS)
    auc_plain = attack_auc(spec, plain, members, non_members)
    seeds = itertools.count(1)
    monkeypatch.setattr(P, "fresh_seed", lambda: next(seeds))
    dp = PrivacySpec("client-dp", 8.0, 1e-5, 1.0)
    noised = federated_fit(spec, parts, rounds=ROUNDS, epochs=EPOCHS, privacy=dp)
    auc_dp = attack_auc(spec, noised, members, non_members)
    print(f"membership-inference AUC: no privacy {auc_plain:.3f}, client-dp eps=8 {auc_dp:.3f}")
    assert auc_plain > LEAKS_ABOVE
    assert abs(auc_dp - 0.5) < COIN_TOSS_WITHIN
    assert auc_dp < auc_plain


def test_attack_scores_cross_entropy_models_only():
    mse = dataclasses.replace(digits_mlp(), loss="mse")  # unchecked: the attack must refuse
    x = torch.zeros(2, 64)
    with pytest.raises(BadInputError, match="cross-entropy"):
        attack_auc(mse, mse.build(0).state_dict(), (x, torch.zeros(2)), (x, torch.zeros(2)))
