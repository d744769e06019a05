"""RoundMath (split, fill, drawSeats, popcount) against its Python reference.

TrainingJobs inlines the library, so these tests call it through the test-only harness
contracts/test/RoundMathHarness.sol (``npm run compile:test``); test_rounds.py and
test_committee.py check that startRound, decline and closeAcceptance use it as described.
"""

from __future__ import annotations

import random

import pytest
from eth_utils.crypto import keccak

from .attackers import deploy_test_contract
from .helpers import fill_reference, reverts, seats_reference, split_reference

MAX = 2**256 - 1


@pytest.fixture
def math(client, accounts):
    return deploy_test_contract(client, "RoundMathHarness", sender=accounts[0]).functions


def test_split_matches_the_reference(client, math):
    rng = random.Random(7)
    cases = [
        (10, [1, 2, 3, 4]),
        (10, [3, 3, 3]),
        (7, [1, 1, 1]),
        (5, [3, 3, 0, 3]),
        (0, [1, 2]),
        (3, [0, 0]),
        (1, [5]),
        (100, [7, 11, 13]),
        (4, [2**63, 1, 2**63]),
        (2, [1, 5, 1]),
    ]
    cases += [
        (
            rng.randint(0, 500),
            [rng.choice([0, 1, rng.randint(1, 10**6)]) for _ in range(rng.randint(1, 12))],
        )
        for _ in range(25)
    ]
    for total, weights in cases:
        got = client.call(math.split(total, weights))
        assert got == split_reference(total, weights), (total, weights)
        assert sum(got) == (total if any(weights) else 0)
    # Remainders: 10 over 3 equal weights -> the +1 goes to the lowest index.
    assert client.call(math.split(10, [3, 3, 3])) == [4, 3, 3]


def test_fill_places_within_room_and_matches_the_reference(client, math):
    rng = random.Random(11)
    cases = [
        (10, [1, 1, 1, 100], [5, 5, 5, 5]),  # the heavy member is capped, the rest re-split
        (9, [2**64 - 1, 1, 1], [5, 5, 5]),
        (7, [1, 2, 3], [0, 0, 0]),  # no room: nothing placed
        (7, [0, 0, 1], [7, 7, 2]),  # only one member with weight: it takes its room
        (12, [5, 0, 5], [3, 9, 3]),  # zero weight gets nothing even with room
        (0, [1, 1], [1, 1]),
        (10, [1, 2, 3, 4], [4, 3, 2, 0]),  # what decline re-splits: members at the cap get none
    ]
    for _ in range(30):
        n = rng.randint(1, 10)
        cases.append(
            (
                rng.randint(0, 300),
                [rng.choice([0, rng.randint(1, 50), rng.randint(1, 2**64)]) for _ in range(n)],
                [rng.randint(0, 60) for _ in range(n)],
            )
        )
    for total, weights, room in cases:
        got = client.call(math.fill(total, weights, room))
        assert got == fill_reference(total, weights, room), (total, weights, room)
        assert all(g <= r for g, r in zip(got, room, strict=True))
        assert all(g == 0 for g, w in zip(got, weights, strict=True) if w == 0)
        capacity = sum(r for r, w in zip(room, weights, strict=True) if w > 0)
        assert sum(got) == min(total, capacity), (total, weights, room)
    # Water-filling: 100 of 103 weight would take ~9.7; capped at 5, the other 5 go 2, 2, 1.
    assert client.call(math.fill(10, [1, 1, 1, 100], [5, 5, 5, 5])) == [2, 2, 1, 5]


def test_draw_seats_matches_the_reference(client, math):
    rng = random.Random(3)
    for i in range(40):
        n = rng.randint(1, 12)
        weights = [rng.choice([0, 1, rng.randint(1, 10**20)]) for _ in range(n)]
        k = rng.randint(1, 14)
        seed = keccak(text=f"seed-{i}")
        got = client.call(math.drawSeats(seed, weights, k))
        assert got == seats_reference(seed, weights, k), (weights, k)
        assert all(g == 0 for g, w in zip(got, weights, strict=True) if w == 0)
        nonzero = sum(1 for w in weights if w > 0)
        if nonzero > k:
            assert sum(got) == k  # k seats, with replacement
        else:
            assert got == weights  # everyone with stake sits, weighted by it
    # Fewer members with stake than seats: every one of them, nobody without stake.
    assert client.call(math.drawSeats(keccak(text="all"), [5, 0, 1, 0, 9], 7)) == [5, 0, 1, 0, 9]
    assert client.call(math.drawSeats(keccak(text="none"), [0, 0], 3)) == [0, 0]


def test_draw_seats_is_stake_weighted(client, math):
    """Over many seeds a single seat goes to each member in proportion to its stake; with more
    members than seats each seat is an independent draw, so a member's expected seats are its
    share of the stake however that stake is split over accounts."""
    weights = [1, 2, 3, 4, 0]
    trials = 400
    counts = [0] * 5
    for t in range(trials):
        got = client.call(math.drawSeats(keccak(text=f"first-{t}"), weights, 1))
        assert sum(got) == 1
        counts[got.index(1)] += 1
    assert counts[4] == 0
    expected = [trials * w / sum(weights) for w in weights[:4]]
    chi2 = sum((c - e) ** 2 / e for c, e in zip(counts[:4], expected, strict=True))
    assert chi2 < 16.27, (counts, expected)  # p = 0.001 with 3 degrees of freedom
    # A coalition of 3 accounts with 10 % of the stake each vs one account with 30 %: over 150
    # committees of 5 seats both hold about 30 % of the seats.
    split_stake = [10, 10, 10, 30, 20, 20]
    seats = [0] * 6
    for t in range(150):
        for j, n in enumerate(client.call(math.drawSeats(keccak(text=f"c-{t}"), split_stake, 5))):
            seats[j] += n
    total = 5 * 150
    assert abs(sum(seats[:3]) / total - 0.3) < 0.06, seats
    assert abs(seats[3] / total - 0.3) < 0.06, seats


def test_overflowing_products_revert_instead_of_wrapping(client, math):
    assert client.call(math.split(10**6, [2**64 - 1, 2**64 - 1, 2**200]))  # fits: no overflow
    with reverts("Panic", 0x11):  # total * weight past 2**256: refused, not wrapped
        client.call(math.split(2**200, [MAX, 1]))
    with reverts("Panic", 0x11):  # the sum of the weights itself overflows
        client.call(math.drawSeats(keccak(text="x"), [MAX, 1], 1))
    with reverts("Panic", 0x11):  # fill's room x weight comparison, with weights past 2**192
        client.call(math.fill(2**70, [2**200, 1], [1, 2**70]))


def test_popcount(client, math):
    rng = random.Random(5)
    for x in [0, 1, 2**255, MAX, *(rng.getrandbits(256) for _ in range(10))]:
        assert client.call(math.popcount(x)) == bin(x).count("1")
