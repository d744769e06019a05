"""How other peers reach this node: the ``p2p.reachability`` / ``p2p.relay`` decisions and the
state ``milon status`` and the Node tab show.

``p2p.reachability = "auto"`` decides from the addresses alone: a node is public when it
announces an address (``p2p.announce``: a forwarded port) or listens on a global IP, and
private otherwise. It does not ask py-libp2p 0.8.1's AutoNAT: that server "dials back"
with ``host.connect()``, which returns at once when the two hosts are already connected,
so a NATed host is reported PUBLIC (docs/p2p.md). A dial-back from a peer not yet
connected would avoid the trap but needs a second cooperating peer per check; a node
behind a home router has only private listen addresses, so "private unless a global or
announced address" is right for it. A public IP behind a firewall is the case the rule
gets wrong: set ``p2p.reachability = "private"`` there.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from multiaddr import Multiaddr

from milon_app.errors import BadInputError

REACHABILITY = ("auto", "public", "private")
RELAY = ("off", "auto", "on")
SHORT_ID = 8  # the last characters of a peer ID shown for a relay


def check_setting(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise BadInputError(f"{name} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _global_ip(addr: Multiaddr) -> bool:
    for proto in ("ip4", "ip6"):
        with contextlib.suppress(Exception):
            return ipaddress.ip_address(addr.value_for_protocol(proto)).is_global
    return False


def is_public(setting: str, listen: Sequence[Multiaddr], announce: Sequence[Multiaddr]) -> bool:
    """Whether peers can dial this node at the addresses it publishes (see the module doc)."""
    check_setting("p2p.reachability", setting, REACHABILITY)
    if setting != "auto":
        return setting == "public"
    return bool(announce) or any(_global_ip(a) for a in listen)


def serves_relay(setting: str, public: bool) -> bool:
    """``p2p.relay``: ``on`` always hops, ``auto`` only for a public node, ``off`` never."""
    check_setting("p2p.relay", setting, RELAY)
    return setting == "on" or (setting == "auto" and public)


def short(peer_id: str) -> str:
    return peer_id[-SHORT_ID:]


@dataclass(frozen=True)
class Reach:
    """How this node is reached now. ``mode``: ``public`` (dialled at its own addresses),
    ``relay`` (private, holding a reservation on ``relay``), ``private`` (no reservation:
    only peers it dials reach it); ``punched``: peers whose relayed connection DCUtR
    upgraded to a direct one."""

    mode: str
    relay: str = ""
    relay_addr: str = ""
    serving_relay: bool = False
    punched: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        base = {
            "public": "public",
            "relay": f"via relay {short(self.relay)}",
            "private": "private (no relay reservation: reached only by peers it dials)",
        }[self.mode]
        if self.punched:
            base = f"direct after a hole punch ({len(self.punched)} peer(s)); otherwise {base}"
        return base + ("; serving as a relay" if self.serving_relay else "")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hole_punched"] = list(out.pop("punched"))  # the JSON name `milon status` shows
        return {**out, "text": self.text()}
