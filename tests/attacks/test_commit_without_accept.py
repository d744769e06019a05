"""Attack: commit without accepting (the rules ``commit implies acceptance`` relaxes).

v2 before the gas work: a member had to ``accept`` (one transaction) and wait for acceptance
to close before it could ``commit`` (a second one). Now a commit within the accept window
accepts as well, and commits no longer wait for acceptance to close. What that must not open:
- a member that stayed silent through the accept window commits after it (escaping the lapse
  and its penalty, or taking epochs back after they were re-split): AcceptClosed;
- a leaving member takes work by committing (the stake-lock rule ``accept`` enforces):
  NotEligible;
- an outsider, or a member that declined or lapsed, commits: NotAccepted;
- a member that committed early is handed more epochs by a later re-split (paid for epochs
  it never trained on): re-splits pass committed members by.
Honest members that commit straight away are paid for exactly the epochs they committed to
and never slashed.
"""

from __future__ import annotations

from milon_app.chain.bindings import AssignmentState
from tests.attacks.common import World
from tests.unit.contracts.helpers import make_update, reverts

MODEL = bytes.fromhex("11" * 32)


def test_silent_member_cannot_commit_after_the_window_and_early_committers_keep_their_epochs(
    world: World,
):
    """Five members, ten epochs (two each, share cap four); three commit straight away
    (no accept), A accepts explicitly, M stays silent. After the accept window M's commit
    reverts AcceptClosed; closing acceptance lapses M (lapse penalty) and its two epochs go
    to A alone, not to the members that already committed. Everyone else reveals, the
    committee accepts the four updates: the early committers are paid for two epochs each,
    A for four, nobody but M is slashed, and M is neither paid nor able to commit."""
    early = world.members[0:3]
    a, m = world.members[3], world.members[4]
    fed = world.federation([*early, a, m])
    job = world.job(fed)
    r = world.start(job)
    assert [world.epochs(job, r, x) for x in [*early, a, m]] == [2, 2, 2, 2, 2]
    before = world.stakes(fed, [*early, a])

    updates = [make_update(x, job, r) for x in early]
    world.commit(updates, job, r)  # committing accepts: no accept transaction
    for x in early:
        assert world.milon.assignment(job, r, x.address).state is AssignmentState.COMMITTED
    rd = world.milon.round(job, r)
    assert (rd.assigned_count, rd.accepted_count, rd.committed_count) == (2, 3, 3)
    world.accept([a], job, r)

    world.after(job, "accept_deadline")
    late = make_update(m, job, r)
    with reverts("AcceptClosed"):
        world.commit([late], job, r)
    world.close_acceptance(job)
    assert world.milon.assignment(job, r, m.address).state is AssignmentState.LAPSED
    assert [world.epochs(job, r, x) for x in early] == [2, 2, 2]  # committed: fixed
    assert world.epochs(job, r, a) == 4  # the lapsed epochs went to the one still open
    with reverts("NotAccepted", m.address):
        world.commit([late], job, r)

    ua = make_update(a, job, r)
    world.commit([ua], job, r)
    world.reveal([*updates, ua], job, r)
    seats = [world.by[s.lower()] for s in world.committee(job, r)]
    world.votes(seats, job, r, [*early, a])
    world.confirm(seats, job, r, MODEL)
    assert world.milon.round(job, r).finalized

    world.assert_honest_whole(fed, [*early, a], before)
    credited = world.credited()
    reward = world.milon.job(job).params.reward_per_epoch
    share = world.milon.params()[12]  # validators' share (bps)
    for x in early:
        assert credited[x.address.lower()] == 2 * reward * (10_000 - share) // 10_000
    assert credited[a.address.lower()] == 4 * reward * (10_000 - share) // 10_000
    assert m.address.lower() not in credited
    assert world.slash_reasons(m) == ["lapsed-assignment"]
    assert set(world.slashed()) == {m.address.lower()}


def test_leaver_outsider_and_decliner_cannot_commit_their_way_in(world: World):
    """A leaving member (its leave requested) commits without accepting: NotEligible, like
    ``accept``. A federation member outside the round, and a member that declined, commit:
    NotAccepted. A member that committed cannot commit again, nor decline afterwards to
    push its epochs onto others (AlreadyResponded)."""
    members = world.members[0:4]
    leaver, decliner, honest = members[0], members[1], members[2:4]
    fed = world.federation(members)
    job = world.job(fed)
    r = world.start(job)
    outsider = world.members[5]
    world.join(outsider, fed)  # joined after the round started: not in it

    world.milon.request_leave(leaver, fed)
    with reverts("NotEligible", leaver.address):
        world.commit([make_update(leaver, job, r)], job, r)
    with reverts("NotAccepted", outsider.address):
        world.commit([make_update(outsider, job, r)], job, r)
    world.milon.decline(decliner, job, r)
    with reverts("NotAccepted", decliner.address):
        world.commit([make_update(decliner, job, r)], job, r)

    world.commit([make_update(honest[0], job, r)], job, r)
    with reverts("AlreadyCommitted", honest[0].address):
        world.commit([make_update(honest[0], job, r)], job, r)
    with reverts("AlreadyResponded", honest[0].address):
        world.milon.decline(honest[0], job, r)
