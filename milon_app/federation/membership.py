"""Proof that client-dp protects (issue 23): a loss-threshold membership-inference attack.

The attacker holds the global model and a sample, and guesses "it was trained on" when the
model's loss on it is low (Yeom et al., 2018). Its success over every threshold at once is
the ROC AUC of the negated per-sample loss, members against non-members: 0.5 is a coin
toss, 1.0 tells every member apart. :func:`federated_fit` trains a small FedAvg
federation in process, with or without each member clipping and noising its update
exactly as a client-dp contributor does (:func:`milon_app.federation.privacy.privatize`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from milon_app.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from milon_app.compute.model_spec import ModelSpec
    from milon_app.compute.privacy_spec import PrivacySpec

    State = dict[str, torch.Tensor]


def sample_losses(spec: ModelSpec, state: State, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every sample under the model ``state`` (classification only)."""
    import torch
    import torch.nn.functional as F

    from milon_app.compute.trainer import load_state, prepare_data

    if spec.loss != "cross_entropy":
        raise BadInputError(f"the attack scores cross-entropy models, not loss {spec.loss!r}")
    xv, yv = prepare_data(spec, (x, y), "attack data")
    model = spec.build(0)
    load_state(model, state)
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(xv), yv, reduction="none")


def attack_auc(
    spec: ModelSpec,
    state: State,
    members: tuple[torch.Tensor, torch.Tensor],
    non_members: tuple[torch.Tensor, torch.Tensor],
) -> float:
    """AUC of the loss-threshold attack (lower loss: member)."""
    import torch
    from sklearn.metrics import roc_auc_score

    inside = sample_losses(spec, state, *members)
    outside = sample_losses(spec, state, *non_members)
    labels = torch.cat([torch.ones_like(inside), torch.zeros_like(outside)])
    scores = -torch.cat([inside, outside])
    return float(roc_auc_score(labels.numpy(), scores.numpy()))


def federated_fit(
    spec: ModelSpec,
    parts: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    rounds: int,
    epochs: int,
    seed: int = 0,
    privacy: PrivacySpec | None = None,
) -> State:
    """FedAvg over ``parts`` for ``rounds`` rounds of ``epochs`` local epochs; under a
    client-dp ``privacy`` every member clips and noises its update with the job's sigma."""
    from milon_app.compute.trainer import train
    from milon_app.federation import privacy as P
    from milon_app.federation.aggregation import make_aggregator
    from milon_app.federation.types import ClientUpdate

    std = 0.0
    if privacy is not None and privacy.enabled:
        std = P.noise_std(privacy, P.job_sigma(privacy, rounds))
    state = {k: v.detach().clone() for k, v in spec.build(seed).state_dict().items()}
    fedavg = make_aggregator(0)
    for r in range(rounds):
        updates = []
        for i, (x, y) in enumerate(parts):
            trained = train(spec, state, (x, y), epochs=epochs, seed=seed + 1000 * r + i).state
            if privacy is not None and privacy.enabled:
                trained = P.privatize(state, trained, privacy.clip, std)
            updates.append(ClientUpdate(f"0x{i:040x}", trained, int(x.shape[0])))
        state = fedavg.aggregate(state, updates).state
    return state
