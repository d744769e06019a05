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
NONE, ASSIGNED, ACCEPTED, DECLINED, COMMITTED, REVEALED, LAPSED = range(7)
# JobStatus
JOB_OPEN, JOB_COMPLETED, JOB_CANCELLED = range(3)
# Default windows of TrainingJobs (seconds)
ACCEPT_WINDOW = REVEAL_WINDOW = VERDICT_WINDOW = CONFIRM_WINDOW = 300
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
        "committeeSize": 0,
        "roundDuration": ROUND_DURATION,
        "maxSamples": 0,
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


def start_round_tx(client: Any, suite: Any, job_id: int, sender: Any) -> Any:
    """startRound with the gas floor ``Milon.start_round`` sends: its gas depends on the committee
    it draws, so on the block it lands in, and an estimate taken one block earlier can fall short
    (anvil). Returns the receipt."""
    from milon_app.chain.bindings import _start_gas

    job = client.call(suite.jobs.functions.job(job_id))
    p = client.call(suite.jobs.functions.params())
    members = min(client.call(suite.registry.functions.federation(job[1][0]))[5], p[5])
    k = min(max(job[1][8] or p[7], p[6]), p[8])
    fn = suite.jobs.functions.startRound(job_id)
    return client.transact(fn, sender, min_gas=_start_gas(members, min(members, k)))


def start_round(client: Any, suite: Any, job_id: int, sender: Any) -> int:
    start_round_tx(client, suite, job_id, sender)
    return int(client.call(suite.jobs.functions.job(job_id))[3])


def assignment(client: Any, suite: Any, job_id: int, round_id: int, member: str) -> tuple[Any, ...]:
    """(epochs, index, weight, state, numSamples, commitment, updateHash)."""
    return tuple(client.call(suite.jobs.functions.assignment(job_id, round_id, member)))


ROUND_FIELDS = [
    "epochs", "epochsTrained", "shareCap", "memberCount", "assignedCount", "acceptedCount",
    "committedCount", "revealedCount", "committeeCount", "votedCount", "startedAt",
    "acceptDeadline", "commitDeadline", "revealDeadline", "verdictDeadline", "confirmDeadline",
    "committeeWeight", "votedWeight", "revealedBits", "acceptedBits", "rejectedBits",
    "baseModelHash", "newModelHash", "tallied", "finalized", "timedOut",
]  # fmt: skip


def round_info(client: Any, suite: Any, job_id: int, round_id: int) -> dict[str, Any]:
    values = client.call(suite.jobs.functions.round(job_id, round_id))
    return dict(zip(ROUND_FIELDS, values, strict=True))


def seat_info(client: Any, suite: Any, job_id: int, round_id: int, who: str) -> dict[str, Any]:
    names = ["index", "voted", "confirmed", "weight", "verdict", "confirmedHash"]
    values = client.call(suite.jobs.functions.seat(job_id, round_id, who))
    return dict(zip(names, values, strict=True))


def job_info(client: Any, suite: Any, job_id: int) -> dict[str, Any]:
    names = [
        "owner", "params", "globalModelHash", "currentRound", "epochsDone",
        "escrowRemaining", "status", "finalModelHash",
    ]  # fmt: skip
    return dict(zip(names, client.call(suite.jobs.functions.job(job_id)), strict=True))


def member_info(client: Any, suite: Any, fed_id: int, who: str) -> dict[str, Any]:
    names = [
        "stake", "capacity", "peerInfo", "joinedAt", "leaveRequestedAt", "withdrawableAt",
        "active", "admitted", "suspended",
    ]  # fmt: skip
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
    """Checksummed addresses in ascending numeric order."""
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
    for m in members:  # commits wait until every assigned member has answered
        if m.address.lower() in in_round:
            tx(client, suite.jobs.functions.accept(job_id, r), m)
            updates[m.address] = make_update(m, job_id, r)
    for u in updates.values():
        commit(client, suite, job_id, r, u)
    for u in updates.values():
        reveal(client, suite, job_id, r, u)
    return fed, job_id, r, updates


def committee(client: Any, suite: Any, job_id: int, round_id: int) -> list[str]:
    return list(client.call(suite.jobs.functions.committee(job_id, round_id)))


def bits_for(client: Any, suite: Any, job_id: int, round_id: int, accepted: Sequence[str]) -> int:
    """The verdict bitmap accepting exactly these members' updates (by round-member index)."""
    members = [m.lower() for m in client.call(suite.jobs.functions.roundMembers(job_id, round_id))]
    out = 0
    for a in accepted:
        out |= 1 << members.index(a.lower())
    return out


def vote_all(
    client: Any,
    suite: Any,
    job_id: int,
    round_id: int,
    by_address: dict[str, Any],
    accepted: Sequence[str],
    voters: Sequence[str] | None = None,
) -> list[Any]:
    """Every (or each listed) committee member submits the same verdict; returns receipts."""
    bits = bits_for(client, suite, job_id, round_id, accepted)
    n = len(client.call(suite.jobs.functions.roundMembers(job_id, round_id)))
    out = []
    for who in voters if voters is not None else committee(client, suite, job_id, round_id):
        fn = suite.jobs.functions.submitVerdict(job_id, round_id, bits, bytes(n))
        out.append(tx(client, fn, by_address[who.lower()]))
    return out


def confirm_all(
    client: Any,
    suite: Any,
    job_id: int,
    round_id: int,
    by_address: dict[str, Any],
    model_hash: bytes,
    voters: Sequence[str] | None = None,
) -> list[Any]:
    """Committee members confirm ``model_hash`` until the round finalizes; returns receipts."""
    out = []
    for who in voters if voters is not None else committee(client, suite, job_id, round_id):
        if round_info(client, suite, job_id, round_id)["finalized"]:
            break
        fn = suite.jobs.functions.confirm(job_id, round_id, model_hash)
        out.append(tx(client, fn, by_address[who.lower()]))
    return out


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


# ------------------------------------------------------------------------- protocol v2 helpers

# TrainingJobs' governed parameters, by id (milon_app.chain.bindings.Param), with their defaults.
DEFAULT_PARAMS = [
    300, 300, 300, 300, 10_000, 128, 3, 7, 31, 6_666, 5_000, 6_666, 1_000, 8_000, 200, 100,
    5_000, 20_000, 2_000, 20_000,
]  # fmt: skip
PARAM_BOUNDS = [
    (60, 30 * 86_400), (60, 30 * 86_400), (60, 30 * 86_400), (60, 30 * 86_400),
    (1, 1_000_000), (1, 256), (3, 64), (3, 64), (3, 64), (5_001, 10_000), (5_000, 9_000),
    (5_001, 10_000), (0, 3_000), (5_000, 10_000), (0, 2_000), (0, 2_000), (1_000, 10_000),
    (10_000, 100_000), (0, 10_000), (10_000, 100_000),
]  # fmt: skip
SLASH_BPS = 1_000  # the dev deployment's registry slash rate
DELIVERY_PRIOR = 2


def by_address(accounts: Sequence[Any]) -> dict[str, Any]:
    """Accounts keyed by lower-case address (what committee() and roundMembers() return, lowered)."""
    return {a.address.lower(): a for a in accounts}


def round_members(client: Any, suite: Any, job_id: int, round_id: int) -> list[str]:
    return list(client.call(suite.jobs.functions.roundMembers(job_id, round_id)))


def submit_verdict(
    client: Any, suite: Any, job_id: int, round_id: int, voter: Any, accepted: Sequence[str]
) -> Any:
    """One committee member's verdict accepting exactly ``accepted`` (addresses)."""
    bits = bits_for(client, suite, job_id, round_id, accepted)
    n = len(round_members(client, suite, job_id, round_id))
    return tx(client, suite.jobs.functions.submitVerdict(job_id, round_id, bits, bytes(n)), voter)


def finish_round(
    client: Any,
    suite: Any,
    job_id: int,
    round_id: int,
    accounts: Sequence[Any],
    accepted: Sequence[str],
    model_hash: bytes | None = None,
) -> Any:
    """The whole committee votes for ``accepted``; if that accepted anything (an author's own
    seat never counts for its update), it confirms ``model_hash`` until the round finalizes.
    Returns the receipt that settled the round."""
    who = by_address(accounts)
    receipt = vote_all(client, suite, job_id, round_id, who, accepted)[-1]
    if not round_info(client, suite, job_id, round_id)["finalized"]:
        receipt = confirm_all(client, suite, job_id, round_id, who, model_hash or h("model-1"))[-1]
    rd = round_info(client, suite, job_id, round_id)
    assert rd["finalized"], "the round did not finalize"
    return receipt


def set_param(client: Any, jobs: Any, governance: Any, param_id: int, value: int) -> Any:
    return tx(client, jobs.functions.setParam(param_id, value), governance)


def governed_suite(
    client: Any,
    suite: Any,
    governance: Any,
    *,
    floor: int = ETHER,
    cooldown: int = 60,
    slash_bps: int = SLASH_BPS,
) -> Any:
    """A registry and jobs contract on the real token whose governance is a plain account, so
    governed calls (setParam, a governance slash) are one transaction. Same attribute names as
    the deployed suite (``timelock`` is the governance account: slashes are paid to it)."""
    from types import SimpleNamespace

    registry = standalone_registry(
        client, suite, governance, floor=floor, cooldown=cooldown, slash_bps=slash_bps
    )
    jobs = client.deploy(
        "TrainingJobs", suite.token.address, registry.address, governance.address,
        sender=suite.deployer,
    )  # fmt: skip
    tx(client, registry.functions.setJobs(jobs.address), suite.deployer)
    return SimpleNamespace(
        token=suite.token, registry=registry, jobs=jobs, deployer=suite.deployer,
        timelock=governance, governance=governance,
    )  # fmt: skip


# ---- Python references of RoundMath and the split/draw TrainingJobs builds on it


def fill_reference(total: int, weights: Sequence[int], room: Sequence[int]) -> list[int]:
    """RoundMath.fill (water-filling): members whose exact proportional share of what is left
    exceeds their room get their room, the rest is split again over the others, until nobody
    exceeds; then one largest-remainder split."""
    n = len(weights)
    shares = [0] * n
    w = [weights[i] if room[i] > 0 else 0 for i in range(n)]
    left = total
    while left > 0:
        total_w = sum(w)
        if total_w == 0:
            break
        capped = 0
        for i in range(n):
            if w[i] > 0 and left * w[i] > room[i] * total_w:
                shares[i] = room[i]
                capped += room[i]
                w[i] = 0
        if capped == 0:
            add = split_reference(left, w)
            shares = [a + b for a, b in zip(shares, add, strict=True)]
            break
        left -= capped
    return shares


def share_cap_reference(
    epochs: int, weights: Sequence[int], max_share_bps: int = 5_000, of_equal_bps: int = 20_000
) -> int:
    """TrainingJobs._shareCap: min(maxShare of the round, multiple of the equal share), never
    below the equal share (all rounded up)."""
    n = sum(1 for w in weights if w > 0)
    equal = -(-epochs // n)
    of_equal = -(-(epochs * of_equal_bps) // (n * 10_000))
    of_round = -(-(epochs * max_share_bps) // 10_000)
    return max(min(of_equal, of_round), equal)


def round_split_reference(epochs: int, weights: Sequence[int], **cap: int) -> list[int]:
    """What startRound assigns for these effective weights."""
    cap_ = share_cap_reference(epochs, weights, **cap)
    return fill_reference(epochs, weights, [cap_] * len(weights))


def seats_reference(seed: bytes, weights: Sequence[int], k: int) -> list[int]:
    """RoundMath.drawSeats: with no more members with weight than ``k``, their weights
    themselves; else ``k`` draws with replacement by weight, counted per member."""
    total = sum(weights)
    if sum(1 for w in weights if w > 0) <= k:
        return list(weights)
    seats = [0] * len(weights)
    for d in range(k):
        x = int.from_bytes(keccak(encode(["bytes32", "uint256"], [seed, d])), "big") % total
        acc = 0
        for i, w in enumerate(weights):
            acc += w
            if x < acc:
                break
        seats[i] += 1
    return seats


def draw_seed(client: Any, receipt: Any, job_id: int, round_id: int) -> bytes:
    """The committee seed of the round started in ``receipt``'s block:
    keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), job, round))."""
    block = client.w3.eth.get_block(receipt["blockNumber"])
    # anvil executes with prevrandao = the block's mixHash; the embedded chain (eth-tester on
    # py-evm) executes with 0, whatever mixHash its blocks report.
    prevrandao = 0 if client.kind == "embedded" else int.from_bytes(block["mixHash"], "big")
    parent = bytes(block["parentHash"])
    return keccak(
        encode(["uint256", "bytes32", "uint256", "uint256"], [prevrandao, parent, job_id, round_id])
    )


def committee_size_reference(requested: int, params: Sequence[int]) -> int:
    """The number of seats startRound draws: the job's (or the default), clamped to the
    governed bounds."""
    k = requested or params[7]
    return min(max(k, params[6]), params[8])


def param(client: Any, jobs: Any, param_id: int) -> int:
    """One governed TrainingJobs parameter (read through params())."""
    return int(client.call(jobs.functions.params())[int(param_id)])


def delivery_after(record: tuple[int, int], taken: int, delivered: int) -> tuple[int, int]:
    """One settlement of a delivery record (taken, delivered): both decay by 7/8, then add."""
    return record[0] * 7 // 8 + taken, record[1] * 7 // 8 + delivered


def set_automine(client: Any, on: bool) -> None:
    """Turn automatic mining of each transaction off (to put several into one block) or on."""
    if client.kind == "embedded":
        t = client._tester()
        (t.enable_auto_mine_transactions if on else t.disable_auto_mine_transactions)()
    else:
        client.w3.provider.make_request("evm_setAutomine", [on])


def federation_with_stakes(
    client: Any,
    suite: Any,
    members: Sequence[Any],
    stakes: Sequence[int],
    capacities: Sequence[int] | None = None,
    *,
    min_stake: int = ETHER,
) -> int:
    """A federation whose members join with these stakes (and capacities); returns its id."""
    caps = list(capacities) if capacities is not None else [1] * len(members)
    fed_id = create_federation(client, suite, members[0], min_stake=min_stake)
    for m, s, c in zip(members, stakes, caps, strict=True):
        join(client, suite, m, fed_id, stake=s, capacity=c)
    return fed_id


def revealed_round(
    client: Any, suite: Any, owner: Any, fed_id: int, accounts: Sequence[Any], **job: Any
) -> tuple[int, int, list[Any]]:
    """A job on an existing federation and its first round, with every assigned member's update
    accepted, committed and revealed. Returns (job, round, the round's members in order)."""
    job_id = create_job(client, suite, owner, fed_id, **job)
    r = start_round(client, suite, job_id, owner)
    who = by_address(accounts)
    active = [who[a.lower()] for a in round_members(client, suite, job_id, r)]
    ups = [make_update(m, job_id, r) for m in active]
    for m in active:
        tx(client, suite.jobs.functions.accept(job_id, r), m)
    for u in ups:
        commit(client, suite, job_id, r, u)
    for u in ups:
        reveal(client, suite, job_id, r, u)
    return job_id, r, active


def seated(client: Any, suite: Any, job_id: int, round_id: int, who: str) -> int:
    """1 if ``who`` holds a seat on the round's committee (a seat locks the stake like an
    assignment until the round closes: it counts in pendingWork), else 0."""
    return 1 if client.call(suite.jobs.functions.seat(job_id, round_id, who))[0] else 0
