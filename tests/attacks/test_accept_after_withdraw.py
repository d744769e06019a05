"""Attack 10: take work with nothing at stake (leave, withdraw, then accept).

v1: ``pendingWork`` counted only accepted assignments and ``accept`` did not check
membership, so a member assigned epochs could ask to leave, withdraw its whole stake once the
(short) cooldown passed inside the accept window, and only then accept: it trained (or not)
with nothing left to slash.
v2: ``pendingWork`` counts assignments from the moment they are made, and committee seats,
so the stake stays locked while the member holds either (WorkPending), and ``accept``
requires an active member (NotEligible). Declining releases the epochs to the others at no
cost.
"""

from __future__ import annotations

from milon_app.chain.errors import ContractRevert
from tests.attacks.common import World
from tests.unit.contracts.helpers import ETHER, h, reverts

MODEL = h("model-1")


def test_assigned_leaver_can_neither_withdraw_nor_accept(world: World):
    """Member M is assigned 2 of the round's 10 epochs (and, five members with a committee of
    up to seven, holds a seat), asks to leave, waits out the 60 s cooldown (the accept window
    is 300 s) and tries to withdraw its stake, then to accept the epochs. The withdrawal
    reverts WorkPending(fed, M, 2) (the assignment and the seat) and the acceptance
    NotEligible(M). M declines; its epochs go to the four honest members, who train, are
    accepted and paid. M still does its committee duty (a leaver finishes what it holds), and
    gets its whole stake back once the round closed: neither paid for work nor slashed."""
    m = world.members[0]
    honest = world.members[1:5]
    fed = world.federation([m, *honest])
    job = world.job(fed)
    r = world.start(job)
    assert world.epochs(job, r, m) == 2
    assert m.address in world.committee(job, r)
    assert world.milon.pending_work(fed, m.address) == 2  # the assignment and the seat

    world.milon.request_leave(m, fed)
    world.client.increase_time(61)
    assert world.client.now() >= world.milon.member(fed, m.address).withdrawable_at
    with reverts("WorkPending", fed, m.address, 2):
        world.milon.withdraw_stake(m, fed)
    with reverts("NotEligible", m.address):
        world.milon.accept(m, job, r)

    world.milon.decline(m, job, r)
    assert world.milon.pending_work(fed, m.address) == 1  # its seat still holds the stake
    assert sum(world.epochs(job, r, x) for x in honest) == 10
    with reverts("WorkPending", fed, m.address, 1):
        world.milon.withdraw_stake(m, fed)

    before = world.stakes(fed, honest)
    world.accept(honest, job, r)
    world.train(honest, job, r)
    world.votes([*honest, m], job, r, honest)
    world.confirm([*honest, m], job, r, MODEL)
    rd = world.milon.round(job, r)
    assert rd.finalized and rd.epochs_trained == 10
    world.assert_honest_whole(fed, honest, before, validators=honest)
    a = m.address.lower()
    assert a not in world.credited() and a not in world.slashed()
    assert world.milon.pending_work(fed, m.address) == 0
    balance = world.milon.balance(m.address)
    world.milon.withdraw_stake(m, fed)
    assert world.milon.balance(m.address) - balance == 10 * ETHER


def test_withdrawn_member_cannot_vote_with_stake_it_no_longer_has(world: World):
    """Validator variant: M (stake 10, seated on the committee) asks to leave, declines its
    epochs, withdraws its whole stake after the 60 s cooldown, then submits a verdict
    rejecting every honest update, hoping to sway the round (or grief it by staying away)
    with nothing left at stake. Expected: either the withdrawal is refused while M holds a
    seat in an open round, or its verdict is refused or carries no weight."""
    m = world.members[0]
    honest = world.members[1:5]
    fed = world.federation([m, *honest])
    job = world.job(fed)
    r = world.start(job)
    assert m.address in world.committee(job, r)
    world.milon.request_leave(m, fed)
    world.milon.decline(m, job, r)
    world.client.increase_time(61)
    try:
        world.milon.withdraw_stake(m, fed)
    except ContractRevert:
        return  # fixed: a seated member's stake stays locked until the round closes
    assert world.stake(fed, m) == 0
    world.accept(honest, job, r)
    world.train(honest, job, r)
    voted = world.milon.round(job, r).voted_weight
    try:
        world.vote(m, job, r, [])
    except ContractRevert:
        return  # fixed: a member without stake cannot vote
    assert world.milon.round(job, r).voted_weight == voted, "a zero-stake seat voted with weight"
