"""Re-entrancy on claim and on stake withdrawal, by a contract member that calls back in.

Why MILON's own token cannot be used for this: MilonToken is OpenZeppelin's
ERC20 + ERC20Permit + ERC20Votes; its ``_update`` moves balances and vote
checkpoints and calls no other account, and neither the registry nor the jobs
contract sends ETH (no payable function, no receive). So claim() and
withdrawStake() never hand control to the member they pay; the first test
proves that with an armed attacker that counts its callbacks.

The guards are still tested for real: the same registry and jobs bytecode is
deployed on HookToken (contracts/test/), an ERC20 that calls ERC777-style
hooks on sender and recipient, and the ReentrantClaimer member re-enters from
the hook. The one ETH path that exists (the governance timelock paying an
account) is attacked through ReentrantClaimer's receive().
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from milon_app.chain.artifacts import load_artifact

from .attackers import (
    ARTIFACTS,
    TEST_CONTRACTS,
    Attacker,
    HookedSuite,
    accepts_eth,
    give,
    hooked_suite,
    send_value,
)
from .helpers import (
    ETHER,
    JOB_OPEN,
    balance,
    commit,
    commitment,
    create_federation,
    create_job,
    delegate_all,
    events,
    h,
    job_info,
    job_params,
    join,
    make_update,
    member_info,
    reveal,
    reverts,
    start_round,
    tx,
)

ROOT = Path(__file__).resolve().parents[3]
STAKE = 10 * ETHER
REWARD = ETHER


def _attacker_member(client, s, attacker: Attacker, fed: int, *, stake: int = STAKE) -> None:
    """The attacker contract registers for token hooks (if any), then joins like any member."""
    give(client, s, attacker.address, stake)
    if hasattr(s.token.functions, "registerHook"):
        attacker.run(s.token.functions.registerHook())
    attacker.run(s.token.functions.approve(s.registry.address, stake))
    attacker.run(s.registry.functions.join(fed, stake, 1, "evil"))


def _earned_round(client, s, accounts) -> tuple[Attacker, object, int, int]:
    """Attacker contract and an honest EOA member each earn 2 epochs' reward in one round."""
    owner, honest = accounts[3], accounts[2]
    attacker = Attacker(client, accounts[1])
    fed = create_federation(client, s, owner)
    _attacker_member(client, s, attacker, fed)
    join(client, s, honest, fed, stake=STAKE)
    job_id = create_job(client, s, owner, fed, totalEpochs=8, epochsPerRound=4)
    r = start_round(client, s, job_id, owner)
    jobs = s.jobs.functions
    attacker.run(jobs.accept(job_id, r))
    tx(client, jobs.accept(job_id, r), honest)
    salt, update = h("attacker-salt"), h("attacker-update")
    attacker.run(jobs.commit(job_id, r, commitment(update, 10, salt, attacker.address, job_id, r)))
    u = make_update(honest, job_id, r)
    commit(client, s, job_id, r, u)
    attacker.run(jobs.reveal(job_id, r, update, 10, salt))
    reveal(client, s, job_id, r, u)
    # Both sit on the committee (fewer members than its minimum): both vote for both updates
    # and confirm the aggregate (one of two seats is not two thirds).
    assert sorted(a.lower() for a in client.call(jobs.committee(job_id, r))) == sorted(
        [attacker.address.lower(), honest.address.lower()]
    )
    attacker.run(jobs.submitVerdict(job_id, r, 0b11, bytes(2)))
    tx(client, jobs.submitVerdict(job_id, r, 0b11, bytes(2)), honest)
    attacker.run(jobs.confirm(job_id, r, h("model-1")))
    tx(client, jobs.confirm(job_id, r, h("model-1")), honest)
    # 2 epochs less the validators' 10 %, plus half the validators' pool of 4 epochs' 10 %.
    assert client.call(jobs.claimable(attacker.address)) == 2 * REWARD
    return attacker, honest, fed, job_id


@pytest.fixture
def hooked(client, accounts) -> HookedSuite:
    return hooked_suite(client, accounts[0], accounts[9])


# ---------------------------------------------------------------------------- the real token


def test_shipped_token_and_contracts_give_a_payee_no_callback(client, suite, accounts):
    # No payable entry point and no receive/fallback: no ETH ever leaves or enters them.
    for name in ("FederationRegistry", "TrainingJobs", "MilonToken"):
        abi = load_artifact(name)["abi"]
        assert not [i for i in abi if i["type"] in ("receive", "fallback")], name
        assert not [i for i in abi if i.get("stateMutability") == "payable"], name
    attacker, _honest, fed, _job = _earned_round(client, suite, accounts)
    attacker.arm(suite.jobs.functions.claim(), times=5)
    attacker.run(suite.jobs.functions.claim())
    attacker.run(suite.registry.functions.requestLeave(fed))
    client.increase_time(61)
    attacker.run(suite.registry.functions.withdrawStake(fed))
    # Paid reward and stake, and was never called back while being paid.
    assert attacker.view("callbacks") == 0 and attacker.view("attempts") == 0
    assert balance(client, suite, attacker.address) == 2 * REWARD + STAKE
    for target in (suite.jobs, suite.registry, suite.token):
        assert not accepts_eth(client, accounts[5], target.address)
    assert accepts_eth(client, accounts[5], attacker.address)  # the check itself can say yes


# ---------------------------------------------------------------------------- claim


NON_REENTRANT = {
    "claim": lambda s, fed, job: s.jobs.functions.claim(),
    "createJob": lambda s, fed, job: s.jobs.functions.createJob(job_params(fed)),
    "cancelJob": lambda s, fed, job: s.jobs.functions.cancelJob(job),
    "submitVerdict": lambda s, fed, job: s.jobs.functions.submitVerdict(job, 2, 0, b""),
    "closeVerdicts": lambda s, fed, job: s.jobs.functions.closeVerdicts(job),
    "confirm": lambda s, fed, job: s.jobs.functions.confirm(job, 2, h("m")),
    "closeAcceptance": lambda s, fed, job: s.jobs.functions.closeAcceptance(job),
    "timeoutRound": lambda s, fed, job: s.jobs.functions.timeoutRound(job),
}


@pytest.mark.parametrize("target", sorted(NON_REENTRANT))
def test_claim_reentered_from_token_hook_pays_once(client, hooked, accounts, target):
    s = hooked
    attacker, honest, fed, job_id = _earned_round(client, s, accounts)
    jobs_before = balance(client, s, s.jobs.address)
    attacker.arm(NON_REENTRANT[target](s, fed, job_id))
    receipt = attacker.run(s.jobs.functions.claim())
    assert attacker.view("attempts") == 1 and attacker.view("successes") == 0
    assert attacker.last_error().error_name == "ReentrancyGuardReentrantCall"
    assert [e["amount"] for e in events(s.jobs, receipt, "Claimed")] == [2 * REWARD]
    assert balance(client, s, attacker.address) == 2 * REWARD
    assert balance(client, s, s.jobs.address) == jobs_before - 2 * REWARD
    assert client.call(s.jobs.functions.claimable(attacker.address)) == 0
    assert client.call(s.jobs.functions.claimable(honest.address)) == 2 * REWARD
    assert client.call(s.jobs.functions.jobCount()) == 1


def test_claim_reentry_that_insists_reverts_the_whole_claim(client, hooked, accounts):
    s = hooked
    attacker, _honest, _fed, _job = _earned_round(client, s, accounts)
    jobs_before = balance(client, s, s.jobs.address)
    attacker.arm(s.jobs.functions.claim(), bubble=True)
    with reverts("ReentrancyGuardReentrantCall"):
        attacker.run(s.jobs.functions.claim())
    assert client.call(s.jobs.functions.claimable(attacker.address)) == 2 * REWARD
    assert balance(client, s, attacker.address) == 0
    assert balance(client, s, s.jobs.address) == jobs_before


# ---------------------------------------------------------------------------- withdraw


def _left_member(client, s, accounts) -> tuple[Attacker, object, int]:
    attacker = Attacker(client, accounts[1])
    honest = accounts[2]
    fed = create_federation(client, s, accounts[3])
    _attacker_member(client, s, attacker, fed)
    join(client, s, honest, fed, stake=STAKE)
    attacker.run(s.registry.functions.requestLeave(fed))
    client.increase_time(61)
    return attacker, honest, fed


@pytest.mark.parametrize(
    "target,error",
    [
        ("withdrawStake", "NothingToWithdraw"),
        ("addStake", "NotMember"),
        ("claim", "NothingToClaim"),
    ],
)
def test_withdraw_reentered_from_token_hook_pays_the_stake_once(
    client, hooked, accounts, target, error
):
    s = hooked
    attacker, honest, fed = _left_member(client, s, accounts)
    reg_before = balance(client, s, s.registry.address)
    again = {
        "withdrawStake": s.registry.functions.withdrawStake(fed),
        "addStake": s.registry.functions.addStake(fed, STAKE),
        "claim": s.jobs.functions.claim(),
    }[target]
    attacker.arm(again)
    receipt = attacker.run(s.registry.functions.withdrawStake(fed))
    assert attacker.last_error().error_name == error
    assert [e["amount"] for e in events(s.registry, receipt, "StakeWithdrawn")] == [STAKE]
    assert balance(client, s, attacker.address) == STAKE
    assert balance(client, s, s.registry.address) == reg_before - STAKE == STAKE
    assert member_info(client, s, fed, attacker.address)["stake"] == 0
    assert member_info(client, s, fed, honest.address)["stake"] == STAKE


def test_withdraw_reentry_that_insists_keeps_the_stake_locked(client, hooked, accounts):
    s = hooked
    attacker, _honest, fed = _left_member(client, s, accounts)
    attacker.arm(s.registry.functions.withdrawStake(fed), bubble=True)
    with reverts("NothingToWithdraw"):
        attacker.run(s.registry.functions.withdrawStake(fed))
    assert member_info(client, s, fed, attacker.address)["stake"] == STAKE
    assert balance(client, s, attacker.address) == 0
    assert balance(client, s, s.registry.address) == 2 * STAKE


def test_hook_on_the_paying_side_cannot_join_or_create_twice(client, hooked, accounts):
    """transferFrom calls the payer's hook after the state is written: joins and jobs count once."""
    s = hooked
    attacker = Attacker(client, accounts[1])
    fed = create_federation(client, s, accounts[3])
    attacker.arm(s.registry.functions.join(fed, STAKE, 1, "again"))
    _attacker_member(client, s, attacker, fed)
    assert attacker.last_error().error_name == "AlreadyMember"
    assert member_info(client, s, fed, attacker.address)["stake"] == STAKE
    assert balance(client, s, s.registry.address) == STAKE

    params = job_params(fed, totalEpochs=2, epochsPerRound=2)
    give(client, s, attacker.address, 2 * REWARD)
    attacker.run(s.token.functions.approve(s.jobs.address, 10 * REWARD))
    attacker.arm(s.jobs.functions.createJob(params))
    attacker.run(s.jobs.functions.createJob(params))
    assert attacker.last_error().error_name == "ReentrancyGuardReentrantCall"
    assert client.call(s.jobs.functions.jobCount()) == 1
    assert job_info(client, s, 1)["escrowRemaining"] == 2 * REWARD
    assert job_info(client, s, 1)["status"] == JOB_OPEN


# ---------------------------------------------------------------------------- ETH from the treasury


def _queue_payment(client, suite, to: str, amount: int, description: str):
    """A governance proposal paying ``amount`` wei from the timelock, voted and queued."""
    gov = suite.governor
    targets, values, datas = [to], [amount], [b""]
    desc_hash = keccak(text=description)
    delegate_all(client, suite)
    tx(client, gov.functions.propose(targets, values, datas, description), suite.deployer)
    pid = client.call(gov.functions.hashProposal(targets, values, datas, desc_hash))
    client.mine(int(client.call(gov.functions.votingDelay())) + 1)
    tx(client, gov.functions.castVote(pid, 1), suite.deployer)
    client.mine(int(client.call(gov.functions.votingPeriod())) + 1)
    tx(client, gov.functions.queue(targets, values, datas, desc_hash), suite.deployer)
    client.increase_time(int(client.call(suite.timelock.functions.getMinDelay())) + 1)
    salt = bytes(
        a ^ b
        for a, b in zip(bytes.fromhex(gov.address[2:]).ljust(32, b"\0"), desc_hash, strict=True)
    )
    return (targets, values, datas, desc_hash), salt, pid


def test_treasury_payment_reentered_from_receive_pays_once(client, suite, accounts):
    attacker = Attacker(client, accounts[1])
    send_value(client, accounts[5], suite.timelock.address, 3 * ETHER)
    (targets, values, datas, desc_hash), salt, pid = _queue_payment(
        client, suite, attacker.address, ETHER, "pay the attacker 1 ETH"
    )
    gov, tl = suite.governor.functions, suite.timelock.functions
    before = client.balance(attacker.address)

    # Straight into the timelock: the inner run executes, then the outer one finds the
    # operation done and reverts everything, so nothing is paid twice.
    attacker.arm(tl.executeBatch(targets, values, datas, b"\0" * 32, salt), bubble=True)
    with reverts("TimelockUnexpectedOperationState"):
        tx(client, gov.execute(targets, values, datas, desc_hash), accounts[6])
    assert client.balance(attacker.address) == before
    assert client.balance(suite.timelock.address) == 3 * ETHER

    # Through the governor: the proposal is marked executed before any call goes out.
    attacker.arm(gov.execute(targets, values, datas, desc_hash))
    tx(client, gov.execute(targets, values, datas, desc_hash), accounts[6])
    assert attacker.last_error().error_name == "GovernorUnexpectedProposalState"
    assert client.balance(attacker.address) == before + ETHER
    assert client.balance(suite.timelock.address) == 2 * ETHER
    assert client.call(gov.state(pid)) == 7  # Executed
    with reverts("GovernorUnexpectedProposalState"):
        tx(client, gov.execute(targets, values, datas, desc_hash), accounts[6])


# ---------------------------------------------------------------------------- test artifacts


def test_attacker_artifacts_are_fresh(tmp_path):
    """The committed contracts/test artifacts match a fresh `npm run compile:test`."""
    index = (ARTIFACTS / "index.json").read_text()
    for name in TEST_CONTRACTS:
        assert f'"{name}"' in index
    node = shutil.which("node")
    if node is None or not (ROOT / "contracts" / "node_modules" / "solc").is_dir():
        pytest.skip("node or contracts/node_modules is absent (run `npm ci` in contracts/)")
    out = tmp_path / "artifacts"
    proc = subprocess.run(
        [node, str(ROOT / "contracts" / "compile.js"), "--test", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ARTIFACTS.glob("*.json"))
    for path in out.iterdir():
        assert path.read_bytes() == (ARTIFACTS / path.name).read_bytes(), (
            f"{path.name} is stale: run `npm run compile:test` in contracts/"
        )
