"""Shared multi-step setups for the contract tests, written only against ChainClient.

The embedded chain costs ~30 ms per transaction, so scenarios build just the
state they need through these helpers instead of a large common fixture.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.logs import DISCARD

from milon_app.chain.errors import ContractRevert

ETHER = 10**18
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
OPEN, GOVERNANCE = 0, 1
# AssignmentState
NONE, ASSIGNED, ACCEPTED, DECLINED, COMMITTED, REVEALED = range(6)
# JobStatus
JOB_OPEN, JOB_COMPLETED, JOB_CANCELLED = range(3)
# Default windows of TrainingJobs (seconds)
ACCEPT_WINDOW = REVEAL_WINDOW = PROPOSAL_WINDOW = 300
ROUND_DURATION = 600


@contextlib.contextmanager
def reverts(error_name: str, *args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect a revert with this custom error (and, if given, these arguments)."""
    with pytest.raises(ContractRevert) as info:
        yield info
    assert info.value.error_name == error_name, str(info.value)
    if args:
        assert _norm(tuple(info.value.error_args)) == _norm(args), str(info.value)


def _norm(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Addresses compare case-insensitively (decoded errors give them lower-case)."""
    return tuple(v.lower() if isinstance(v, str) and v.startswith("0x") else v for v in values)


def events(contract: Any, receipt: Any, name: str) -> list[dict[str, Any]]:
    """Decoded arguments of every ``name`` event ``contract`` emitted in ``receipt``."""
    logs = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def b32(text: str) -> bytes:
    """A short ASCII name as Solidity's bytes32 literal ("maxMembers" -> left-aligned, zero-padded)."""
    return text.encode().ljust(32, b"\0")


def h(text: str) -> bytes:
    """A recognisable bytes32 for tests."""
    return keccak(text=text)


def commitment(
    update_hash: bytes, num_samples: int, salt: bytes, member: str, job_id: int, round_id: int
) -> bytes:
    """What TrainingJobs.commitmentOf computes: binds sender, job and round."""
    return keccak(
        encode(
            ["bytes32", "uint64", "bytes32", "address", "uint256", "uint256"],
            [update_hash, num_samples, salt, member, job_id, round_id],
        )
    )


def tx(client: Any, fn: Any, sender: Any) -> Any:
    return client.transact(fn, sender=sender)


def fund(client: Any, suite: Any, account: Any, amount: int) -> None:
    """Give ``account`` tokens from the deployer (who holds the initial supply)."""
    tx(client, suite.token.functions.transfer(account.address, amount), suite.deployer)


def approve(client: Any, suite: Any, account: Any, spender: str, amount: int) -> None:
    tx(client, suite.token.functions.approve(spender, amount), account)


def balance(client: Any, suite: Any, address: str) -> int:
    return int(client.call(suite.token.functions.balanceOf(address)))


def create_federation(
    client: Any,
    suite: Any,
    creator: Any,
    *,
    name: str = "fed",
    min_stake: int = ETHER,
    admission: int = OPEN,
) -> int:
    tx(
        client,
        suite.registry.functions.createFederation(name, h(name), min_stake, admission),
        creator,
    )
    return int(client.call(suite.registry.functions.federationCount()))


def join(
    client: Any,
    suite: Any,
    account: Any,
    fed_id: int,
    *,
    stake: int = 10 * ETHER,
    capacity: int = 1,
    peer: str = "peer",
) -> Any:
    """Fund, approve and join in one go; returns the join receipt."""
    fund(client, suite, account, stake)
    approve(client, suite, account, suite.registry.address, stake)
    return tx(client, suite.registry.functions.join(fed_id, stake, capacity, peer), account)


def job_params(fed_id: int, **overrides: Any) -> tuple[Any, ...]:
    """A JobParams tuple in ABI order, with sensible defaults."""
    p: dict[str, Any] = {
        "fedId": fed_id,
        "modelSpecHash": h("model-spec"),
        "datasetSpecHash": h("dataset-spec"),
        "initialModelHash": h("model-0"),
        "totalEpochs": 10,
        "epochsPerRound": 10,
        "rewardPerEpoch": ETHER,
        "aggregationRule": 0,
        "validatorQuorum": 1,
        "roundDuration": ROUND_DURATION,
    }
    unknown = set(overrides) - set(p)
    assert not unknown, f"unknown JobParams fields {unknown}"
    p.update(overrides)
    return tuple(p.values())


def create_job(client: Any, suite: Any, owner: Any, fed_id: int, **overrides: Any) -> int:
    params = job_params(fed_id, **overrides)
    escrow = params[4] * params[6]
    fund(client, suite, owner, escrow)
    approve(client, suite, owner, suite.jobs.address, escrow)
    tx(client, suite.jobs.functions.createJob(params), owner)
    return int(client.call(suite.jobs.functions.jobCount()))


def start_round(client: Any, suite: Any, job_id: int, sender: Any) -> int:
    tx(client, suite.jobs.functions.startRound(job_id), sender)
    return int(client.call(suite.jobs.functions.job(job_id))[3])


def assignment(client: Any, suite: Any, job_id: int, round_id: int, member: str) -> tuple[Any, ...]:
    """(epochs, capacity, state, numSamples, commitment, updateHash)."""
    return tuple(client.call(suite.jobs.functions.assignment(job_id, round_id, member)))


def round_info(client: Any, suite: Any, job_id: int, round_id: int) -> dict[str, Any]:
    names = [
        "epochs", "epochsTrained", "memberCount", "assignedCount", "acceptedCount",
        "committedCount", "revealedCount", "startedAt", "acceptDeadline", "commitDeadline",
        "revealDeadline", "proposalDeadline", "baseModelHash", "newModelHash", "finalized",
        "timedOut",
    ]  # fmt: skip
    return dict(zip(names, client.call(suite.jobs.functions.round(job_id, round_id)), strict=True))


def job_info(client: Any, suite: Any, job_id: int) -> dict[str, Any]:
    names = [
        "owner", "params", "globalModelHash", "currentRound", "epochsDone",
        "escrowRemaining", "status", "finalModelHash",
    ]  # fmt: skip
    return dict(zip(names, client.call(suite.jobs.functions.job(job_id)), strict=True))


def member_info(client: Any, suite: Any, fed_id: int, who: str) -> dict[str, Any]:
    names = ["stake", "capacity", "peerInfo", "joinedAt", "leaveRequestedAt", "active", "admitted"]
    return dict(zip(names, client.call(suite.registry.functions.member(fed_id, who)), strict=True))


@dataclass
class Update:
    """One member's update for a round, with what it commits and reveals."""

    member: Any
    update_hash: bytes
    num_samples: int = 100
    salt: bytes = field(default_factory=lambda: h("salt"))


def make_update(member: Any, job_id: int, round_id: int) -> Update:
    return Update(
        member, h(f"update-{member.address}-{job_id}-{round_id}"), 100, h(f"salt-{member.address}")
    )


def commit(client: Any, suite: Any, job_id: int, round_id: int, u: Update) -> Any:
    c = commitment(u.update_hash, u.num_samples, u.salt, u.member.address, job_id, round_id)
    return tx(client, suite.jobs.functions.commit(job_id, round_id, c), u.member)


def reveal(client: Any, suite: Any, job_id: int, round_id: int, u: Update) -> Any:
    fn = suite.jobs.functions.reveal(job_id, round_id, u.update_hash, u.num_samples, u.salt)
    return tx(client, fn, u.member)


def sorted_addresses(members: Sequence[Any]) -> list[str]:
    """Checksummed addresses in the ascending numeric order propose() requires."""
    return sorted((Web3.to_checksum_address(m.address) for m in members), key=lambda a: int(a, 16))


@dataclass
class Federation:
    fed_id: int
    members: list[Any]
    capacities: list[int]


def federation_with_members(
    client: Any,
    suite: Any,
    members: Sequence[Any],
    capacities: Sequence[int] | None = None,
    *,
    stake: int = 10 * ETHER,
    min_stake: int = ETHER,
) -> Federation:
    caps = list(capacities) if capacities is not None else [1] * len(members)
    fed_id = create_federation(client, suite, members[0], min_stake=min_stake)
    for m, c in zip(members, caps, strict=True):
        join(client, suite, m, fed_id, stake=stake, capacity=c)
    return Federation(fed_id, list(members), caps)


def round_to_revealed(
    client: Any,
    suite: Any,
    owner: Any,
    members: Sequence[Any],
    capacities: Sequence[int] | None = None,
    **job_overrides: Any,
) -> tuple[Federation, int, int, dict[str, Update]]:
    """Federation + job + one round where every member accepted, committed and revealed."""
    fed = federation_with_members(client, suite, members, capacities)
    job_id = create_job(client, suite, owner, fed.fed_id, **job_overrides)
    r = start_round(client, suite, job_id, owner)
    in_round = {a.lower() for a in client.call(suite.jobs.functions.roundMembers(job_id, r))}
    updates: dict[str, Update] = {}
    for m in members:
        if m.address.lower() not in in_round:
            continue
        tx(client, suite.jobs.functions.accept(job_id, r), m)
        updates[m.address] = make_update(m, job_id, r)
        commit(client, suite, job_id, r, updates[m.address])
    for u in updates.values():
        reveal(client, suite, job_id, r, u)
    return fed, job_id, r, updates


# ------------------------------------------------------------------------- governance


def delegate_all(client: Any, suite: Any) -> None:
    """The deployer delegates its votes to itself (votes count from the next block)."""
    tx(client, suite.token.functions.delegate(suite.deployer.address), suite.deployer)
    client.mine(1)


def govern(client: Any, suite: Any, calls: Sequence[tuple[Any, Any]], description: str) -> Any:
    """Propose, vote, queue and execute ``calls`` [(contract, bound function)] via the timelock.

    Assumes the deployer already delegated to itself (``delegate_all``) and holds quorum.
    Returns the execute receipt.
    """
    gov = suite.governor
    targets = [c.address for c, _ in calls]
    values = [0] * len(calls)
    datas = [fn._encode_transaction_data() for _, fn in calls]
    desc_hash = keccak(text=description)
    tx(client, gov.functions.propose(targets, values, datas, description), suite.deployer)
    pid = client.call(gov.functions.hashProposal(targets, values, datas, desc_hash))
    client.mine(int(client.call(gov.functions.votingDelay())) + 1)
    tx(client, gov.functions.castVote(pid, 1), suite.deployer)
    client.mine(int(client.call(gov.functions.votingPeriod())) + 1)
    assert client.call(gov.functions.state(pid)) == 4, "proposal did not succeed"  # Succeeded
    tx(client, gov.functions.queue(targets, values, datas, desc_hash), suite.deployer)
    client.increase_time(int(client.call(suite.timelock.functions.getMinDelay())) + 1)
    receipt = tx(client, gov.functions.execute(targets, values, datas, desc_hash), suite.deployer)
    assert client.call(gov.functions.state(pid)) == 7  # Executed
    return receipt


def standalone_registry(
    client: Any,
    suite: Any,
    governance: Any,
    *,
    floor: int = ETHER,
    cooldown: int = 60,
    slash_bps: int = 1_000,
) -> Any:
    """A FederationRegistry whose governance is a plain account, to test governed calls directly."""
    return client.deploy(
        "FederationRegistry",
        suite.token.address,
        governance.address,
        floor,
        cooldown,
        slash_bps,
        sender=suite.deployer,
    )


def split_reference(total: int, weights: Sequence[int]) -> list[int]:
    """Python model of the on-chain split: floor shares, then +1 by largest remainder, low index first."""
    s = sum(weights)
    if s == 0 or total == 0:
        return [0] * len(weights)
    shares = [total * w // s for w in weights]
    rems = [total * w % s for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-rems[i], i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def assert_conservation(
    client: Any, suite: Any, fed_ids: Sequence[int], job_ids: Sequence[int]
) -> None:
    """Registry holds exactly the stakes; jobs holds open escrow plus everything claimable."""
    stakes = 0
    for fed in fed_ids:
        for who in client.call(suite.registry.functions.members(fed)):
            stakes += client.call(suite.registry.functions.stakeOf(fed, who))
    assert balance(client, suite, suite.registry.address) == stakes
    escrow = sum(job_info(client, suite, j)["escrowRemaining"] for j in job_ids)
    owed = 0
    seen: set[str] = set()
    for fed in fed_ids:
        for who in client.call(suite.registry.functions.members(fed)):
            if who not in seen:
                seen.add(who)
                owed += client.call(suite.jobs.functions.claimable(who))
    assert balance(client, suite, suite.jobs.address) == escrow + owed
