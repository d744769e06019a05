"""Attack 5: replay an update that was already revealed in the job.

v1: ``reveal`` checked only the commitment, so a member could commit to and reveal an update
revealed before (its own from an earlier round, or another member's) and be paid again for
work it never did in the round.
v2 at first: the contract kept every hash revealed in a job and refused a repeat; that set
cost a fresh storage slot (22k gas) per reveal, for a check the committee makes anyway.
Now: every judge rejects (``REPLAY``) an update whose hash the job's events show revealed in
an earlier round, and one near-identical to an update it accepted in the job's last rounds
(its own memory of the rounds it judged), so the replay is rejected by the majority: its
author is slashed and unpaid for the round, the honest members are paid and keep their stakes. These run real node judges on the embedded chain. A copy of another
member's update of the same round needs its hash before commits close, which a contributor
never gives away (tests/attacks/test_digest_copy.py).
"""

from __future__ import annotations

import pytest

from milon_app.chain.bindings import AssignmentState
from milon_app.chain.verdicts import round_payments, round_verdicts
from milon_app.federation.fingerprints import JudgeHistory
from milon_app.federation.policy import Reason
from milon_app.node.contributor import Contributor
from milon_app.node.jobs import fetch_state
from tests.attacks.nodefed import STAKE, NodeFed, node_federation


class Replayer(Contributor):
    """Trains round 1 honestly; in later rounds commits a round-1 update instead of training:
    its own, or ``victim``'s (fetched from the victim, as any judge would fetch it)."""

    def __init__(self, node, victim: str | None) -> None:
        super().__init__(node.services)
        self.victim = victim
        self.replayed: list[tuple[int, bytes]] = []

    def _train_or_commit(self, ctx, r, rnd, epochs, now, state=AssignmentState.ACCEPTED):
        svc = self.services
        if r == 1 or svc.state.commit_record(ctx.job_id, r) is not None:
            return super()._train_or_commit(ctx, r, rnd, epochs, now, state)
        author = self.victim or svc.address
        old = svc.milon.assignment(ctx.job_id, 1, author)
        digest = old.update_hash.hex()
        fetch_state(digest, svc.transport, svc.store, [author], ctx)  # into its own store
        salt = self.salt(ctx.job_id, r, old.update_hash)
        svc.state.record_commit_intent(ctx.job_id, r, old.update_hash, salt, old.num_samples)
        self._commit(ctx.job_id, r, old.update_hash, old.num_samples)
        self.replayed.append((r, old.update_hash))


@pytest.fixture
def fed(tmp_path):
    f = node_federation(tmp_path)
    yield f
    f.close()


@pytest.mark.parametrize(
    "source,forget", [("own", False), ("another-members", False), ("another-members", True)]
)
def test_replay_of_an_earlier_rounds_update_is_rejected_and_slashed(
    fed: NodeFed, source: str, forget: bool
):
    """Four members train round 1 honestly (every one sits on the committee). In round 2 the
    replayer commits and reveals a round-1 update, its own or another member's, hoping to be
    paid without training: every honest judge rejects it as a replay, so it is slashed and
    not paid for round 2 (its honest round 1 is paid), and the three honest members are paid
    for both rounds and keep their stakes. ``forget``: the judges remember nothing of round 1
    (as a round-2 committee drawn apart from round 1's would): the round's reveals on chain
    still name the replay."""
    *honest, replayer = fed.nodes
    victim = honest[0].address if source == "another-members" else None
    replayer.contributor = Replayer(replayer, victim)
    job_id = fed.job(rounds=2)
    if forget:
        fed.until(fed.round_closed(job_id, 1))
        for nd in fed.nodes:
            nd.state.set_judge_history(job_id, JudgeHistory().to_json())
    fed.until(fed.round_closed(job_id, 2))
    m = fed.owner.milon
    assert [r for r, _ in replayer.contributor.replayed] == [2]
    old = replayer.contributor.replayed[0][1]
    assert m.assignment(job_id, 2, replayer.address).update_hash == old  # revealed on chain
    verdicts = {u.member: u for u in round_verdicts(m, job_id, 2).updates}
    assert verdicts[replayer.address].outcome == "rejected"
    against = {v.reason for v in verdicts[replayer.address].votes if not v.accepted}
    assert against == {int(Reason.REPLAY)}
    rewards1, _ = round_payments(m, job_id, 1)
    rewards2, validator_pay2 = round_payments(m, job_id, 2)
    assert replayer.address in rewards1  # its honest round 1 is paid
    assert replayer.address not in rewards2 and replayer.address not in validator_pay2
    assert fed.stake(replayer) < STAKE
    for nd in honest:
        assert verdicts[nd.address].outcome == "accepted"
        assert rewards1[nd.address] > 0 and rewards2[nd.address] > 0
        assert fed.stake(nd) == STAKE
