"""``milon gov params``, ``gov propose param`` and ``gov propose slash``: what governance sets.

Every governed parameter is listed with what it means and its value now. A
proposal to change one is checked against the contract's hard bounds before
it is made: an out-of-range value would pass the vote and then fail at
execution, days later.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from milon_app.cli import chain_session as S
from milon_app.cli.cmd_gov import proposal_opts, propose, propose_with
from milon_app.cli.context import Context
from milon_app.cli.registry import REGISTRY
from milon_app.errors import BadInputError, NotFoundError
from milon_app.units import parse_amount

if TYPE_CHECKING:
    from milon_app.chain.governance import Governance, ProposalCall


# ---------------------------------------------------------------- params


def _configure_params(p: argparse.ArgumentParser) -> None:
    S.add_chain_args(p, account="none")


@REGISTRY.command(
    "gov",
    "params",
    summary="every governed parameter: what it means and its current value",
    configure=_configure_params,
)
def _params(args: argparse.Namespace, ctx: Context) -> int:
    from milon_app.chain.bindings import Milon
    from milon_app.session.parameters import read_parameters

    _client, suite = S.open_chain(ctx, args)
    rows = [
        {
            "name": p.name,
            "value": str(p.value),
            "shown": p.text,
            "description": p.description,
            "contract": p.contract,
        }
        for p in read_parameters(Milon(suite))
    ]

    def human(data: list[dict[str, Any]]) -> str:
        table = S.table(
            "Governed parameters",
            ("name", "value", "meaning"),
            ((r["name"], r["shown"], r["description"]) for r in data),
        )
        return table + "change one with `milon gov propose param NAME VALUE`"

    ctx.emit(rows, human)
    return 0


# ---------------------------------------------------------------- propose param


def _configure_param(p: argparse.ArgumentParser) -> None:
    # the names live in milon_app.chain.governance.PARAMETERS (importing it here would pull
    # web3 into `milon --help`); a wrong name is answered with the full list
    p.add_argument(
        "name",
        metavar="NAME",
        help="a parameter from `milon gov params`, e.g. committee-min, slash-bps, verdict-window",
    )
    p.add_argument("value", metavar="VALUE", help="new value (min-stake-floor in MILON)")
    proposal_opts(p)


def parameter_call(gov: Governance, args: argparse.Namespace) -> tuple[ProposalCall, str]:
    """The proposal, checked against the hard bounds, and a warning ("" when none)."""
    from milon_app.chain.bindings import Milon
    from milon_app.chain.governance import PARAMETERS
    from milon_app.session.parameters import AMOUNT_PARAMETERS, check_parameter, ordering_note

    name = args.name
    if name not in PARAMETERS:
        raise BadInputError(
            f"unknown parameter {name!r}: expected one of {', '.join(PARAMETERS)} "
            "(see `milon gov params`)"
        )
    if name in AMOUNT_PARAMETERS:
        value = parse_amount(args.value, name)
    else:
        value = S.positive_int(args.value, name, minimum=0, maximum=2**256 - 1)
    m = Milon(gov.suite)
    check_parameter(m, name, value)
    return gov.set_parameter(name, value, args.description), ordering_note(m, name, value)


@REGISTRY.command(
    "gov",
    "propose",
    "param",
    summary="change a governed parameter (see `milon gov params`)",
    configure=_configure_param,
)
def _propose_param(args: argparse.Namespace, ctx: Context) -> int:
    def build(gov: Governance, a: argparse.Namespace) -> ProposalCall:
        call, note = parameter_call(gov, a)
        if note:
            ctx.info(f"warning: {note}")
        return call

    return propose(args, ctx, build)


# ---------------------------------------------------------------- propose slash


def _configure_slash(p: argparse.ArgumentParser) -> None:
    p.add_argument("fed_id", metavar="FED", help="federation id")
    p.add_argument("address", metavar="ACCOUNT", help="the member to slash")
    p.add_argument("amount", metavar="AMOUNT", help="MILON to take from its stake")
    p.add_argument(
        "--reason", required=True, metavar="TEXT", help="why, recorded on chain (1..32 bytes)"
    )
    proposal_opts(p)


def _build_slash(gov: Governance, args: argparse.Namespace) -> ProposalCall:
    from milon_app.chain.bindings import Milon
    from milon_app.session.parameters import check_slash

    fed, who = S.positive_int(args.fed_id, "FED"), S.check_address(args.address, "ACCOUNT")
    amount = parse_amount(args.amount, "AMOUNT")
    if amount == 0:
        raise BadInputError("AMOUNT must be more than 0 MILON")
    m = Milon(gov.suite)
    if fed > m.federation_count():
        raise NotFoundError(f"federation {fed} does not exist (see `milon fed list`)")
    check_slash(m, fed, who, amount)
    return gov.slash_member(fed, who, amount, args.reason, args.description)


REGISTRY.command(
    "gov",
    "propose",
    "slash",
    summary="slash a member's stake for a stated reason (capped by gov-slash-cap-bps)",
    configure=_configure_slash,
)(propose_with(_build_slash))
