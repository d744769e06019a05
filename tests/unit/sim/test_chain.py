"""The simulation's chain: big transactions on the embedded chain, final facts read once."""

from __future__ import annotations

from typing import Any

from milon_app.sim.chain import SIM_BLOCK_GAS, SimChainClient


class FakeView:
    """Stands in for a web3 contract function: counts how often the chain is asked."""

    def __init__(self, name: str, answers: list[Any], *args: Any) -> None:
        self.address, self.fn_name, self.args = "0x" + "11" * 20, name, args
        self.answers, self.calls = answers, 0

    def _encode_transaction_data(self) -> str:
        return f"{self.fn_name}{self.args}"

    def call(self, block_identifier: Any = "latest") -> Any:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def _assignment(state: int) -> tuple[Any, ...]:
    return (1, 0, 100, state, 32, b"c" * 32, b"u" * 32)


def test_final_assignments_and_fixed_lists_are_read_once() -> None:
    client = SimChainClient.embedded()
    assert client.w3.eth.get_block("latest")["gasLimit"] == SIM_BLOCK_GAS
    committed, revealed = _assignment(4), _assignment(5)
    view = FakeView("assignment", [committed, revealed], 1, 1, "0xabc")
    assert client.call(view) == committed
    client._forget_reads()  # another member's write
    assert client.call(view) == revealed
    client._forget_reads()
    assert client.call(view) == revealed and view.calls == 2  # final: kept
    members = FakeView("roundMembers", [[], ["0xa", "0xb"]], 1, 2)
    assert client.call(members) == []  # not started yet: asked again later
    client._forget_reads()
    assert client.call(members) == ["0xa", "0xb"]
    client._forget_reads()
    client.call(members)[0] = "mutated"  # callers get copies
    assert client.call(members) == ["0xa", "0xb"] and members.calls == 2
    other = FakeView("job", [(1,), (2,)], 1)
    client.call(other)
    client._forget_reads()
    assert client.call(other) == (2,)  # anything else: the client's ordinary cache rules


def test_final_assignments_are_shared_by_every_members_binding() -> None:
    from types import SimpleNamespace

    from milon_app.chain.bindings import Assignment, AssignmentState

    client = SimChainClient.embedded()
    answers = {
        "0xa": [AssignmentState.COMMITTED, AssignmentState.REVEALED],
        "0xb": [AssignmentState.ACCEPTED],
    }
    asked: list[str] = []

    def read(job_id: int, r: int, who: str) -> Assignment:
        asked.append(who)
        states = answers[who]
        state = states[min(asked.count(who), len(states)) - 1]
        return Assignment(100, 0, 100, state, 32, b"c" * 32, b"u" * 32)

    suite = SimpleNamespace(jobs=SimpleNamespace(address="0x" + "22" * 20))
    members = [SimpleNamespace(assignment=read, suite=suite) for _ in range(3)]
    for m in members:
        client.share_assignments(m)  # type: ignore[arg-type]
    assert members[0].assignment(1, 1, "0xa").state is AssignmentState.COMMITTED
    assert members[1].assignment(1, 1, "0xa").state is AssignmentState.REVEALED  # read again
    assert members[2].assignment(1, 1, "0xa").state is AssignmentState.REVEALED  # shared
    assert members[0].assignment(1, 2, "0xa").state is AssignmentState.REVEALED  # other round
    for m in members:
        assert m.assignment(1, 1, "0xb").state is AssignmentState.ACCEPTED  # not final
    assert asked == ["0xa", "0xa", "0xa", "0xb", "0xb", "0xb"]
