"""Events as one readable log line each (the Node tab's log); Qt-free.

The committee's events carry tuples of addresses and (member, reason) pairs,
which ``key=value`` dumps make unreadable, so they get sentences, as does
money. Everything else keeps the generic form with addresses and hashes cut
short and amounts in MILON (``amount=6 MILON``, never wei).
"""

from __future__ import annotations

from milon_app.node import events as ev
from milon_app.node.events import event_to_dict
from milon_app.units import WEI_FIELDS, format_milon, short_address

REASON_CHARS = 60  # a rejection's detail is cut here: the Job owner tab has the rest


def short(value: object) -> str:
    """Hashes and addresses cut to a recognisable prefix; lists item by item."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(short(v) for v in value) + "]"
    text = str(value)
    if text.startswith("0x") and len(text) == 42:
        return short_address(text)
    return text if len(text) <= 20 else text[:12] + "…"


def _names(members: tuple[str, ...]) -> str:
    return ", ".join(short_address(m) for m in members) or "none"


def _reason(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def event_text(e: ev.Event) -> str:
    """What happened, without the event's name (the log shows it in its own column)."""
    where = f"job {getattr(e, 'job_id', 0)} round {getattr(e, 'round', 0)}"
    if isinstance(e, ev.CommitteeDrawn):
        seat = "your node sits on it" if e.seated else "your node is not on it"
        return f"{where}: a committee of {len(e.members)} was drawn; {seat}"
    if isinstance(e, ev.VerdictSubmitted):
        rejected = "; ".join(f"{short_address(m)} ({_reason(why)})" for m, why in e.rejected)
        return f"{where}: your verdict accepts {len(e.accepted)} update(s)" + (
            f", rejects {rejected}" if rejected else ", rejects none"
        )
    if isinstance(e, ev.VerdictsTallied):
        return (
            f"{where}: accepted {_names(e.accepted)}; rejected {_names(e.rejected)}; "
            f"undecided {_names(e.undecided)}"
        )
    if isinstance(e, ev.ModelConfirmed):
        return f"{where}: you confirmed the aggregated model {e.model_hash[:12]}…"
    if isinstance(e, ev.ValidatorPaid):
        return f"{where}: {format_milon(e.amount)} for your verdicts"
    if isinstance(e, ev.RewardCredited):
        return f"{where}: {format_milon(e.amount)} credited for your update"
    if isinstance(e, ev.RewardClaimed):
        return f"claimed {format_milon(e.amount)}"
    if isinstance(e, ev.PeerStatus):
        state = "connected" if e.connected else "disconnected"
        return f"{short(e.peer_id)} {state}; {e.peers} peer(s) connected now"
    d = event_to_dict(e)
    for key in ("event", "ts", "node"):
        d.pop(key, None)
    return " ".join(f"{k}={_value(k, v)}" for k, v in d.items() if v not in ("", (), [], None))


def _value(key: str, value: object) -> str:
    if key in WEI_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return format_milon(value)
    return short(value)
