"""``milon gov list|propose|vote|delegate|queue|execute``: token-holder governance.

Parameters and slashing (``gov params``, ``gov propose param|slash``) live in
:mod:`milon_app.cli.cmd_gov_params`.

Queue and execute need the proposal's exact (targets, values, calldatas,
description); :mod:`milon_app.chain.proposals` reads them back from the
governor's ``ProposalCreated`` events, as it does for the window. Voting
power comes from delegated tokens at the proposal's snapshot block, the most
common surprise: the commands say so plainly when it is zero.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, NotFoundError
from milon_app.units import format_amount

if TYPE_CHECKING:
    from milon_app.chain.deploy import Suite
    from milon_app.chain.governance import Governance, ProposalCall
    from milon_app.chain.proposals import Proposal

REGISTRY.group(("gov",), "governance: proposals, votes, delegation")
REGISTRY.group(("gov", "propose"), "make a proposal: param, slash, admit, remove or release")

SUPPORT = ("for", "against", "abstain")
Builder = Callable[["Governance", argparse.Namespace], "ProposalCall"]


def _open(ctx: Context, args: argparse.Namespace) -> tuple[Suite, Governance]:
    from milon_app.chain.governance import Governance

    _client, suite = S.open_chain(ctx, args)
    return suite, Governance(suite)


def parse_proposal_id(text: str) -> str:
    """A proposal id in decimal (or 0x hex), or a unique leading part of the decimal form."""
    t = text.strip()
    try:
        value = int(t, 16) if t.lower().startswith("0x") else int(t)
    except ValueError:
        raise BadInputError(f"proposal id {text!r} is not a number") from None
    if not 0 < value < 2**256:
        raise BadInputError(f"proposal id {text!r} is out of range")
    return str(value) if t.lower().startswith("0x") else t


def find_proposal(suite: Suite, text: str) -> Proposal:
    """The proposal with this id, or the only one whose id starts with these digits."""
    from milon_app.chain.proposals import find_proposal as find

    try:
        return find(suite, text)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc} (see `milon gov list`)") from None


def _status(gov: Governance, p: Proposal, block: int) -> dict[str, Any]:
    from milon_app.chain.governance import ProposalState
    from milon_app.chain.proposals import proposal_status

    st = proposal_status(gov, p, block)
    if st.state is ProposalState.PENDING:
        left = f"voting opens in {st.opens_in} blocks"
    elif st.state is ProposalState.ACTIVE:
        left = f"{st.blocks_left} blocks left"
    else:
        left = ""
    quorum = st.quorum
    return {
        "id": str(p.id),
        "proposer": p.proposer,
        "description": p.call.description,
        "state": st.state.name.lower(),
        "for": format_amount(st.for_),
        "against": format_amount(st.against),
        "abstain": format_amount(st.abstain),
        "quorum": None if quorum is None else format_amount(quorum),
        "quorum_progress": None
        if quorum is None
        else f"{format_amount(st.quorum_votes)} / {format_amount(quorum)}",
        "vote_start_block": p.vote_start,
        "vote_end_block": p.vote_end,
        "blocks_left": left,
    }


# ---------------------------------------------------------------- list


def _configure_list(p: argparse.ArgumentParser) -> None:
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "gov", "list", summary="proposals with state and votes", configure=_configure_list
)
def _list(args: argparse.Namespace, ctx: Context) -> int:
    suite, gov = _open(ctx, args)
    block = suite.client.block_number()
    from milon_app.chain.proposals import proposals

    rows = [_status(gov, p, block) for p in proposals(suite)]

    def human(data: list[dict[str, Any]]) -> str:
        if not data:
            return "no proposals yet: `milon gov propose ...`"
        cols = (
            "id",
            "state",
            "for",
            "against",
            "abstain",
            "quorum (for+abstain)",
            "blocks",
            "description",
        )
        return (
            S.table(
                f"Proposals (block {block})",
                cols,
                (
                    (
                        r["id"][:10] + "…",
                        r["state"],
                        r["for"],
                        r["against"],
                        r["abstain"],
                        r["quorum_progress"],
                        r["blocks_left"],
                        r["description"][:40],
                    )
                    for r in data
                ),
            )
            + "\nvote, queue and execute take the first digits of an id; "
            "full ids: `milon --json gov list`"
        )

    ctx.emit(rows, human)
    return 0


# ---------------------------------------------------------------- propose


def _configure_member(p: argparse.ArgumentParser) -> None:
    p.add_argument("fed_id", metavar="FED", help="federation id")
    p.add_argument("address", metavar="ADDRESS", help="the member's account")
    proposal_opts(p)


def _configure_release(p: argparse.ArgumentParser) -> None:
    p.add_argument("job_id", metavar="JOB", help="job id")
    p.add_argument("model_hash", metavar="MODEL_HASH", help="sha256 of the model (64 hex)")
    p.add_argument("uri", metavar="URI", help="where the released model can be fetched")
    proposal_opts(p)


def proposal_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--description", default="", metavar="TEXT", help="proposal text")
    S.add_chain_args(p)


def _build_admit(gov: Governance, args: argparse.Namespace) -> ProposalCall:
    fed, who = S.positive_int(args.fed_id, "FED"), S.check_address(args.address)
    return gov.admit_member(fed, who, args.description)


def _build_remove(gov: Governance, args: argparse.Namespace) -> ProposalCall:
    fed, who = S.positive_int(args.fed_id, "FED"), S.check_address(args.address)
    return gov.remove_member(fed, who, args.description)


def _build_release(gov: Governance, args: argparse.Namespace) -> ProposalCall:
    job = S.positive_int(args.job_id, "JOB")
    digest = S.parse_hash(args.model_hash, "MODEL_HASH")
    if not args.uri.strip():
        raise BadInputError("URI must not be empty")
    return gov.approve_release(job, digest, args.uri, args.description)


def propose(args: argparse.Namespace, ctx: Context, build: Builder) -> int:
    """Build the call (checking the input), refuse a duplicate, propose, say when voting runs."""
    suite, gov = _open(ctx, args)
    call = build(gov, args)
    gov.can_propose(call).require()
    sender = S.signer(ctx, args, suite.client)
    pid = gov.propose(sender, call)
    snapshot, deadline = gov.snapshot(pid), gov.deadline(pid)
    power = gov.votes(sender.address)
    data = {
        "id": str(pid),
        "description": call.description,
        "proposer": sender.address,
        "vote_start_block": snapshot,
        "vote_end_block": deadline,
        "voting_power": format_amount(power),
    }
    if power == 0:
        _warn_no_power(ctx, sender.address, snapshot)
    ctx.emit(
        data,
        lambda d: (
            f"proposal {d['id']}\n{d['description']!r}: voting from block "
            f"{d['vote_start_block']} to {d['vote_end_block']}"
        ),
    )
    return 0


def _warn_no_power(ctx: Context, address: str, snapshot: int) -> None:
    ctx.info(
        f"warning: {address} has no voting power: nothing is delegated to it. Tokens only "
        "count once delegated (to yourself or someone else): run `milon gov delegate` "
        f"before block {snapshot} to vote on this proposal"
    )


def propose_with(build: Builder) -> Callable[[argparse.Namespace, Context], int]:
    def run(args: argparse.Namespace, ctx: Context) -> int:
        return propose(args, ctx, build)

    return run


for _name, _build, _conf, _summary in (
    ("admit", _build_admit, _configure_member, "admit a member to a governance federation"),
    ("remove", _build_remove, _configure_member, "remove a member from a federation"),
    ("release", _build_release, _configure_release, "approve a job's model as a release"),
):
    REGISTRY.command("gov", "propose", _name, summary=_summary, configure=_conf)(
        propose_with(_build)
    )


# ---------------------------------------------------------------- vote / delegate


def _configure_vote(p: argparse.ArgumentParser) -> None:
    p.add_argument("proposal_id", metavar="ID", help="proposal id (from `milon gov list`)")
    p.add_argument("support", choices=SUPPORT, help="your vote")
    p.add_argument("--reason", default="", metavar="TEXT", help="recorded on chain")
    S.add_chain_args(p)


@REGISTRY.command("gov", "vote", summary="vote on an active proposal", configure=_configure_vote)
def _vote(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.governance import Support

    wanted = parse_proposal_id(args.proposal_id)
    suite, gov = _open(ctx, args)
    p = find_proposal(suite, wanted)
    pid = p.id
    gov.can_vote(pid, None).require()  # closed voting is refused before the key is asked for
    sender = S.signer(ctx, args, suite.client)
    gov.can_vote(pid, sender.address).require()
    weight = gov.votes_at(sender.address, p.vote_start)
    if weight == 0:
        ctx.info(
            f"warning: {sender.address} had no voting power at the proposal's snapshot "
            f"(block {p.vote_start}): this vote counts 0. Delegate with `milon gov delegate` "
            "to vote on later proposals"
        )
    gov.vote(sender, pid, Support[args.support.upper()], args.reason)
    data = {
        "id": str(pid),
        "voter": sender.address,
        "support": args.support,
        "weight": format_amount(weight),
    }
    ctx.emit(data, lambda d: f"voted {d['support']} on {d['id']} with {d['weight']} votes")
    return 0


def _configure_delegate(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", nargs="?", metavar="ADDRESS", help="delegate to (default: yourself)")
    S.add_chain_args(p)


@REGISTRY.command(
    "gov",
    "delegate",
    summary="give your token votes to yourself or another account",
    configure=_configure_delegate,
)
def _delegate(args: argparse.Namespace, ctx: Context) -> int:
    to = S.check_address(args.address, "ADDRESS") if args.address else None
    suite, gov = _open(ctx, args)
    sender = S.signer(ctx, args, suite.client)
    target = to or sender.address
    gov.delegate(sender, target)
    data = {
        "from": sender.address,
        "to": target,
        "votes_of_delegate": format_amount(gov.votes(target)),
    }
    ctx.emit(
        data,
        lambda d: (
            f"delegated the votes of {d['from']} to {d['to']} (now {d['votes_of_delegate']} votes)"
        ),
    )
    return 0


# ---------------------------------------------------------------- queue / execute


def _configure_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("proposal_id", metavar="ID", help="proposal id")
    S.add_chain_args(p)


@REGISTRY.command(
    "gov", "queue", summary="queue a succeeded proposal in the timelock", configure=_configure_id
)
def _queue(args: argparse.Namespace, ctx: Context) -> int:
    wanted = parse_proposal_id(args.proposal_id)
    suite, gov = _open(ctx, args)
    p = find_proposal(suite, wanted)
    pid = p.id
    gov.can_queue(pid).require()
    sender = S.signer(ctx, args, suite.client)
    gov.queue(sender, p.call)
    eta = gov.eta(pid)
    data = {
        "id": str(pid),
        "state": gov.state(pid).name.lower(),
        "executable_at": eta,
        "executable_at_utc": S.utc(eta),
    }
    ctx.emit(
        data,
        lambda d: (
            f"queued {d['id']}; executable from {d['executable_at_utc']} "
            f"(`milon gov execute {d['id']}`)"
        ),
    )
    return 0


@REGISTRY.command(
    "gov",
    "execute",
    summary="execute a queued proposal after the timelock delay",
    configure=_configure_id,
)
def _execute(args: argparse.Namespace, ctx: Context) -> int:
    wanted = parse_proposal_id(args.proposal_id)
    suite, gov = _open(ctx, args)
    p = find_proposal(suite, wanted)
    pid = p.id
    gov.can_execute(pid).require()
    sender = S.signer(ctx, args, suite.client)
    gov.execute(sender, p.call)
    data = {"id": str(pid), "state": gov.state(pid).name.lower()}
    ctx.emit(data, lambda d: f"executed {d['id']}")
    return 0
