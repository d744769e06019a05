"""How other peers reach this node: the ``p2p.reachability`` / ``p2p.relay`` decisions and the
state ``milon status`` and the Node tab show.

``p2p.reachability = "auto"`` starts from the addresses (:func:`is_public`: public when it
announces an address, ``p2p.announce``, or listens on a global IP; private otherwise), then
asks its peers (:mod:`milon_app.p2p.dialback`): up to 3 directly connected peers each open a
fresh TCP socket to the IP they observe it at, on its announced (else first listen) port.
It is public when 2 confirm, or 1 when only one peer is connected (a node that knows a single
bootstrap peer would otherwise never learn it is public), private otherwise; peers that
connect later are asked until 3 answered, the verdict taken again on all answers; it starts
over when its port changes and every 30 min. Each verdict switches the relay machinery live
(:meth:`~milon_app.p2p.relay.NatTraversal.set_public`): a private node reserves on its
bootstrap peers and publishes the relayed address first, a public one drops both and, with
``p2p.relay = "auto"``, serves as a relay.

Limits: a lying peer cannot take stake. A false "reachable" (enough alone when it is the
only peer connected, else it needs a second liar) makes the node believe itself public: it
drops its relay reservation, and peers outside cannot dial it until the next check. A false
"unreachable" can at worst keep it private, still reached through its relay. The check is
TCP only and from the peers' vantage: a port open to them but closed to others (a firewall
allowing some networks) reads as public. The DHT's server/client mode (``p2p.dht``) keeps the
address rule's guess. It does not use py-libp2p 0.8.1's AutoNAT: that server "dials back"
with ``host.connect()``, which returns at once when the two hosts are already connected, so
a NATed host is reported PUBLIC (docs/p2p.md). UPnP is not used (docs/p2p.md says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from multiaddr import Multiaddr

from milon_app.errors import BadInputError
from milon_app.p2p.addresses import ip_of

REACHABILITY = ("auto", "public", "private")
RELAY = ("off", "auto", "on")
SHORT_ID = 8  # the last characters of a peer ID shown for a relay


def check_setting(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise BadInputError(f"{name} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _global_ip(addr: Multiaddr) -> bool:
    ip = ip_of(addr)
    return ip is not None and ip.is_global


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
