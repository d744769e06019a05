"""The demo's end: rewards claimed and stakes slashed per node, the governance cycle, and
the centralized baseline the federated result is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from milon_app.node.core import NodeCore


def stakes(members: Sequence[NodeCore], fed_id: int) -> dict[str, int]:
    return {nd.address: nd.milon.member(fed_id, nd.address).stake for nd in members}


def settle(
    members: Sequence[NodeCore], fed_id: int, stake_before: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Each member claims what it earned; returns (rewards, slashed) per address."""
    rewards: dict[str, int] = {}
    slashed: dict[str, int] = {}
    for nd in members:
        rewards[nd.address] = nd.milon.claimable(nd.address)
        if rewards[nd.address]:
            nd.milon.claim(nd.account)
        slashed[nd.address] = stake_before[nd.address] - nd.milon.member(fed_id, nd.address).stake
    return rewards, slashed


def govern(suite: Any, owner_acct: Any, accts: list[Any]) -> dict[str, Any]:
    """Everyone delegates to themselves, then a parameter change passes and is executed."""
    from milon_app.chain.governance import Governance

    gov = Governance(suite)
    for acct in [owner_acct, *accts]:
        gov.delegate(acct)
    call = gov.set_parameter("slash-bps", 1_500, "Raise the slash fraction to 15%")
    pid, state = gov.pass_proposal(owner_acct, [owner_acct, *accts], call)
    return {
        "proposal_id": str(pid),
        "state": state.name.lower(),
        "description": call.description,
        "slash_bps_after": int(suite.client.call(suite.registry.functions.slashBps())),
    }


def baseline_accuracy(
    spec: Any, train_xy: tuple[Any, Any], test_xy: tuple[Any, Any], epochs: int, seed: int
) -> float:
    """The same model and data, trained on one machine."""
    from milon_app.compute.trainer import evaluate, train

    central = train(spec, None, train_xy, epochs=epochs, seed=seed, threads=None)
    return float(evaluate(spec, central.state, *test_xy)[1])
