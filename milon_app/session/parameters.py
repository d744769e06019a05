"""Every governed parameter with its current value, for ``milon gov params`` and the window.

Values live in two contracts: TrainingJobs keeps its twenty in one array
(``Milon.params()``), the registry has a getter each. Both front-ends show
the same list, in the order of :data:`milon_app.chain.governance.PARAMETERS`,
with units a person can read (MILON, seconds, basis points as percent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from milon_app.chain.governance import JOBS_PARAMETERS, PARAMETERS, REGISTRY_PARAMETERS
from milon_app.errors import BadInputError
from milon_app.units import duration, format_amount

if TYPE_CHECKING:
    from milon_app.chain.bindings import Milon

# Values in MILON (wei on chain); every other parameter is a plain integer.
AMOUNT_PARAMETERS = ("min-stake-floor",)
# The registry's getter for each of its parameters (its setters are in REGISTRY_PARAMETERS).
REGISTRY_GETTERS: dict[str, str] = {
    "min-stake-floor": "minStakeFloor",
    "slash-bps": "slashBps",
    "leave-cooldown": "leaveCooldown",
    "max-members": "maxMembers",
    "gov-slash-cap-bps": "govSlashCapBps",
}
assert set(REGISTRY_GETTERS) == set(REGISTRY_PARAMETERS)
# The registry's hard bounds, as its setters check them: (lowest, highest or its constant).
REGISTRY_BOUNDS: dict[str, tuple[int, int | str]] = {
    "min-stake-floor": (0, "MAX_STAKE_FLOOR"),
    "slash-bps": (0, 10_000),
    "leave-cooldown": (0, "MAX_LEAVE_COOLDOWN"),
    "max-members": (1, "MAX_MEMBERS_LIMIT"),
    "gov-slash-cap-bps": (0, "MAX_GOV_SLASH_CAP_BPS"),
}
COMMITTEE = ("committee-min", "committee-default", "committee-max")


@dataclass(frozen=True)
class ParameterValue:
    name: str
    value: int  # as the contract holds it (wei for amounts)
    description: str
    contract: str  # "FederationRegistry" or "TrainingJobs"

    @property
    def text(self) -> str:
        return format_value(self.name, self.value)


def unit_of(name: str) -> str:
    if name in AMOUNT_PARAMETERS:
        return "MILON"
    if name.endswith("-bps"):
        return "bps"
    if name.endswith("-window") or name == "leave-cooldown":
        return "s"
    return ""


def format_value(name: str, value: int) -> str:
    """``10 MILON``, ``300 s (5m)``, ``6,667 bps (66.67%)`` or a grouped integer."""
    unit = unit_of(name)
    if unit == "MILON":
        return f"{format_amount(value)} MILON"
    if unit == "bps":
        return f"{value:,} bps ({value / 100:g}%)"
    if unit == "s":
        return f"{value:,} s ({duration(value)})" if value >= 60 else f"{value} s"
    return f"{value:,}"


def read_parameters(milon: Milon) -> list[ParameterValue]:
    """Blocking: one call for TrainingJobs' parameters, one per registry parameter."""
    jobs = milon.params()
    registry = milon.suite.registry
    out = []
    for name, description in PARAMETERS.items():
        if name in JOBS_PARAMETERS:
            value, contract = jobs[JOBS_PARAMETERS[name]], "TrainingJobs"
        else:
            getter = getattr(registry.functions, REGISTRY_GETTERS[name])
            value, contract = int(milon.client.call(getter())), "FederationRegistry"
        out.append(ParameterValue(name, int(value), description, contract))
    return out


def parameter_bounds(milon: Milon, name: str) -> tuple[int, int]:
    """The hard bounds governance may move ``name`` within (the contract's own check)."""
    if name in JOBS_PARAMETERS:
        fn = milon.suite.jobs.functions.paramBounds(int(JOBS_PARAMETERS[name]))
        low, high = milon.client.call(fn)
        return int(low), int(high)
    low, top = REGISTRY_BOUNDS[name]
    if isinstance(top, str):
        top = int(milon.client.call(getattr(milon.suite.registry.functions, top)()))
    return low, top


def check_parameter(milon: Milon, name: str, value: int) -> None:
    """Refuse now a value the contract would refuse when the proposal executes, days later."""
    if name not in PARAMETERS:
        raise BadInputError(f"unknown parameter {name!r}: expected one of {', '.join(PARAMETERS)}")
    low, high = parameter_bounds(milon, name)
    if not low <= value <= high:
        raise BadInputError(
            f"{name} must be within {format_value(name, low)} .. {format_value(name, high)}, "
            f"got {format_value(name, value)}"
        )


def ordering_note(milon: Milon, name: str, value: int) -> str:
    """The committee bounds must stay ordered when the proposal executes: say so when the
    value would break the order with today's values ("" when it would not)."""
    if name not in COMMITTEE:
        return ""
    params = milon.params()
    now = [params[JOBS_PARAMETERS[n]] for n in COMMITTEE]
    after = list(now)
    after[COMMITTEE.index(name)] = value
    if after[0] <= after[1] <= after[2]:
        return ""
    return (
        f"with today's values (min {now[0]}, default {now[1]}, max {now[2]}) setting {name} to "
        f"{value} breaks committee-min <= committee-default <= committee-max: the proposal "
        "will fail at execution unless another one moves the others first"
    )


def slash_cap(milon: Milon, fed_id: int, account: str) -> tuple[int, int]:
    """(most MILON one governance slash may take from ``account`` now, the cap in bps)."""
    bps = int(milon.client.call(milon.suite.registry.functions.govSlashCapBps()))
    return milon.member(fed_id, account).stake * bps // 10_000, bps


def check_slash(milon: Milon, fed_id: int, account: str, amount: int) -> None:
    """Refuse now a slash the registry would refuse at execution: no stake, or over the cap."""
    stake = milon.member(fed_id, account).stake
    if stake == 0:
        raise BadInputError(f"{account} has no stake in federation {fed_id}: nothing to slash")
    cap, bps = slash_cap(milon, fed_id, account)
    if amount > cap:
        raise BadInputError(
            f"a governance slash takes at most {bps / 100:g}% (gov-slash-cap-bps) of the "
            f"{format_amount(stake)} MILON stake: {format_amount(cap)} MILON, asked "
            f"{format_amount(amount)}"
        )
