"""``milon job cancel ID`` against a private anvil devnet: the owner gets the escrow back;
a non-owner, an unknown job, a job already ended and a round in progress are refused with
the reason and an exit code, before anything is signed (the fixtures of
tests/integration/test_cli_chain_cmds.py, reused)."""

from __future__ import annotations

from milon_app.exit_codes import ExitCode
from tests.integration import test_cli_chain_cmds as C

devnet, chain, home, milon = C.devnet, C.chain, C.home, C.milon  # the fixtures, reused
OWNER = 3  # the dev account C.job_create_args signs with


def balance(chain, i):
    return chain.suite.token.functions.balanceOf(chain.dev(i).address).call()


def test_owner_cancels_and_everyone_else_is_refused_with_the_reason(milon, chain):
    C.make_fed(milon)
    job = C.ok(milon(*C.job_create_args()))
    C.fail(milon("job", "cancel", 9, "--dev-account", OWNER), ExitCode.NOT_FOUND, "job 9 does not")
    err = C.fail(
        milon("job", "cancel", 1, "--dev-account", 2), ExitCode.BAD_INPUT, "only its owner"
    )
    assert chain.dev(3).address in err and chain.dev(2).address in err
    before = balance(chain, OWNER)
    out = C.ok(milon("job", "cancel", job["id"], "--dev-account", OWNER, json_out=False))
    owner = chain.dev(OWNER).address
    assert f"job 1 cancelled with 0/4 epochs done: 10 MILON of escrow returned to {owner}" in out
    assert balance(chain, OWNER) - before == 10 * C.ETHER  # 4 epochs x 2.5
    shown = C.ok(milon("job", "show", 1))
    assert shown["status"] == "cancelled" and shown["escrow_remaining"] == "0"
    C.fail(
        milon("job", "cancel", 1, "--dev-account", OWNER), ExitCode.BAD_INPUT, "already cancelled"
    )


def test_a_round_in_progress_is_named_and_nothing_is_sent(milon, chain):
    from milon_app.chain.bindings import Milon

    C.make_fed(milon)
    for i in (2, 4):  # a round needs two members
        C.ok(milon("fed", "join", 1, "--stake", "10", "--capacity", 5, "--dev-account", i))
    C.ok(milon(*C.job_create_args()))
    Milon(chain.suite).start_round(chain.dev(OWNER), 1)
    nonce = chain.client.w3.eth.get_transaction_count(chain.dev(OWNER).address)
    human = C.fail(
        milon("job", "cancel", 1, "--dev-account", OWNER, json_out=False),
        ExitCode.BAD_INPUT,
        "round 1 in progress",
        "milon job show 1",
    )
    assert "Traceback" not in human
    assert chain.client.w3.eth.get_transaction_count(chain.dev(OWNER).address) == nonce
    assert C.ok(milon("job", "show", 1))["status"] == "open"
