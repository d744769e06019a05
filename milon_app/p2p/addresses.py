"""Which addresses a node publishes, and a free port when the configured one is taken.

A host listening on ``0.0.0.0`` (or ``::``) reports that address, which no
other machine can dial; published on chain it made members unreachable. What
the node publishes instead (on chain, in ``milon status``, in gossip):

- ``p2p.announce`` when set (a router's public address with a forwarded port),
  as given;
- otherwise every address it listens on, an unspecified one expanded to this
  machine's interface addresses (the one the default route leaves by first,
  then public ones, then private ones; loopback only when there is no other),
  plus the addresses peers observed and confirmed (py-libp2p's Identify).

Each ends with ``/p2p/<peer id>``. Three nodes on one machine cannot share
TCP port 4001: :func:`free_port_fallback` moves a taken port to a free one
(port 0) and says so, since py-libp2p otherwise starts without any listener.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from multiaddr import Multiaddr

from milon_app.errors import NetworkError

log = logging.getLogger(__name__)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
IP_PROTOCOLS = ("ip4", "ip6")
ROUTE_PROBE = {4: "192.0.2.1", 6: "2001:db8::1"}  # documentation ranges: nothing is sent
CIRCUIT = "/p2p-circuit"  # in a relayed address (milon_app.p2p.relay)


def is_circuit(addr: Multiaddr | str) -> bool:
    """Whether ``addr`` names a circuit through a relay rather than the peer itself."""
    return CIRCUIT in str(addr)


def ip_of(addr: Multiaddr) -> IP | None:
    for name in IP_PROTOCOLS:
        with contextlib.suppress(Exception):
            return ipaddress.ip_address(addr.value_for_protocol(name))
    return None


def _with_ip(addr: Multiaddr, ip: IP) -> Multiaddr:
    """``addr`` with its IP component replaced by ``ip`` (the rest, port and all, kept)."""
    parts = str(addr).split("/")
    parts[2] = str(ip)
    return Multiaddr("/".join(parts))


def _default_route_ip(version: int) -> IP | None:
    """The local address the default route leaves by (a UDP connect sends no packet)."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((ROUTE_PROBE[version], 9))
            return ipaddress.ip_address(s.getsockname()[0].split("%")[0])
    except (OSError, ValueError):
        return None


def interface_ips() -> list[IP]:
    """This machine's concrete addresses on interfaces that are up, best first (the default
    route's, then public, then private; loopback last; link-local never)."""
    import psutil

    stats = psutil.net_if_stats()
    found: set[IP] = set()
    for name, entries in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_address(entry.address.split("%")[0]))
    primary = {ip for ip in (_default_route_ip(4), _default_route_ip(6)) if ip is not None}
    return rank_ips(found, primary)


def rank_ips(ips: Iterable[IP], primary: Iterable[IP] = ()) -> list[IP]:
    """Dialable addresses best first; deterministic for the same input."""
    first = set(primary)

    def key(ip: IP) -> tuple[int, int, int]:
        group = 0 if ip in first else 1 if ip.is_global else 3 if ip.is_loopback else 2
        return (group, ip.version, int(ip))

    usable = {ip for ip in ips if not (ip.is_unspecified or ip.is_link_local or ip.is_multicast)}
    return sorted(usable, key=key)


def expand(addr: Multiaddr, ips: Sequence[IP]) -> list[Multiaddr]:
    """``addr`` itself, or, when it listens on every interface, one address per interface of
    its IP version (loopback only when that version has nothing else)."""
    ip = ip_of(addr)
    if ip is None or not ip.is_unspecified:
        return [addr]
    same = [i for i in ips if i.version == ip.version]
    outside = [i for i in same if not i.is_loopback]
    return [_with_ip(addr, i) for i in (outside or same)]


def _rank_addr(addr: Multiaddr) -> int:
    ip = ip_of(addr)
    if ip is None:
        return 1  # a DNS name: as good as a public IP
    return 3 if ip.is_loopback else 1 if ip.is_global else 2


def published(
    peer_id: str,
    listening: Sequence[Multiaddr],
    observed: Sequence[Multiaddr] = (),
    announce: Sequence[Multiaddr] = (),
    ips: Callable[[], Sequence[IP]] | None = None,
) -> list[str]:
    """The full multiaddrs (``.../p2p/<peer_id>``) this node tells others to dial: the
    ``announce`` ones when given, else what it listens on (expanded) and what peers observed;
    never an unspecified address."""
    if announce:
        chosen = list(announce)
    else:
        wildcard = any(_unspecified(a) for a in listening)
        concrete = (ips or interface_ips)() if wildcard else []
        expanded = [e for a in listening for e in expand(a, concrete)]
        chosen = sorted([*expanded, *observed], key=lambda a: _rank_addr(a) == 3)  # stable
    out: list[str] = []
    for addr in chosen:
        if _unspecified(addr):
            continue
        text = f"{_bare(addr)}/p2p/{peer_id}"
        if text not in out:
            out.append(text)
    return out


def _unspecified(addr: Multiaddr) -> bool:
    ip = ip_of(addr)
    return ip is not None and ip.is_unspecified


def _bare(addr: Multiaddr) -> str:
    """``addr`` without a ``/p2p/...`` tail."""
    text = str(addr)
    return text.split("/p2p/")[0] if "/p2p/" in text else text


def fit(addrs: Sequence[str], max_bytes: int) -> tuple[str, list[str]]:
    """``addrs`` joined by spaces, keeping whole addresses in order while they fit in
    ``max_bytes`` (UTF-8); returns the text and the addresses left out."""
    kept: list[str] = []
    left: list[str] = []
    size = -1
    for a in addrs:
        extra = len(a.encode()) + 1
        if size + extra <= max_bytes:
            kept.append(a)
            size += extra
        else:
            left.append(a)
    return " ".join(kept), left


def bootstrap_line(addrs: Sequence[str]) -> str:
    """A ``node.toml`` line other nodes paste to dial this one first."""
    return "bootstrap = [" + ", ".join(json.dumps(a) for a in addrs) + "]"


def of_host(host: Any, peer_id: str, announce: Sequence[Multiaddr]) -> list[str]:
    """:func:`published` for a running py-libp2p host (its listeners, what peers observed)."""
    listening = list(host.get_transport_addrs())
    seen = {str(a) for a in listening}
    p2p = Multiaddr(f"/p2p/{peer_id}")
    observed = [a.decapsulate(p2p) for a in host.get_addrs()]
    observed = [a for a in observed if str(a) not in seen]
    return published(peer_id, listening, observed, announce)


# -- a taken port ---------------------------------------------------------------------------
def port_taken(addr: Multiaddr) -> bool:
    """Whether ``addr``'s TCP port is in use on its IP (a socket listening there): trio's
    listener would fail to bind it (as trio does, with SO_REUSEADDR: a closed connection
    lingering in TIME_WAIT does not count)."""
    ip = ip_of(addr)
    try:
        port = int(addr.value_for_protocol("tcp"))
    except Exception:
        return False
    if ip is None or port == 0:
        return False
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((str(ip), port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def any_port(addr: Multiaddr) -> Multiaddr:
    """``addr`` on TCP port 0 (the system picks a free one)."""
    parts = str(addr).split("/")
    parts[parts.index("tcp") + 1] = "0"
    return Multiaddr("/".join(parts))


def free_port_fallback(listen: Sequence[Multiaddr]) -> tuple[list[Multiaddr], list[Multiaddr]]:
    """``listen`` with each taken TCP port replaced by port 0; also the addresses moved."""
    out: list[Multiaddr] = []
    moved: list[Multiaddr] = []
    for addr in listen:
        if port_taken(addr):
            moved.append(addr)
            out.append(any_port(addr))
        else:
            out.append(addr)
    return out, moved


def check_listening(host: Any, listen: Sequence[Multiaddr], moved: Sequence[Multiaddr]) -> None:
    """py-libp2p starts without a listener when it cannot bind: refuse that, and say where
    a taken port moved to (a warning: the daemon's log line, the CLI's stderr)."""
    now = list(host.get_transport_addrs())
    if not now:
        raise NetworkError(f"could not listen on {' '.join(map(str, listen))}")
    if moved:
        log.warning(
            "p2p.listen %s: the port is taken (another node on this machine?); listening on "
            "%s instead; `milon status` shows the bootstrap line for it",
            " ".join(map(str, moved)),
            " ".join(map(str, now)),
        )
