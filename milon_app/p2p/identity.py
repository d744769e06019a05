"""The peer's libp2p identity, bound to the node's Ethereum account.

The libp2p key is the wallet's own secp256k1 key, so a peer ID embeds the
compressed public key and anyone can derive the member's Ethereum address
from it without an extra signed claim. Noise authenticates the peer ID on
every connection, which is what makes the address trustworthy.
"""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import Secp256k1PrivateKey, Secp256k1PublicKey
from libp2p.peer.id import ID

from milon_app.errors import BadInputError

# secp256k1 group order: a valid private key is in [1, N-1].
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def keypair_from_eth_key(private_key: bytes) -> KeyPair:
    """The libp2p key pair for the wallet's 32-byte Ethereum private key."""
    if not isinstance(private_key, bytes | bytearray) or len(private_key) != 32:
        got = (
            len(private_key)
            if isinstance(private_key, bytes | bytearray)
            else type(private_key).__name__
        )
        raise BadInputError(f"private key must be 32 bytes, got {got}")
    if not 0 < int.from_bytes(private_key, "big") < _ORDER:
        raise BadInputError("private key is outside the secp256k1 range")
    secret = Secp256k1PrivateKey.from_bytes(bytes(private_key))
    return KeyPair(secret, secret.get_public_key())


def peer_id_of_key(private_key: bytes) -> str:
    return ID.from_pubkey(keypair_from_eth_key(private_key).public_key).to_base58()


def parse_peer_id(peer_id: str) -> ID:
    try:
        return ID.from_base58(peer_id)
    except Exception as exc:  # base58/multihash raise assorted types
        raise BadInputError(f"not a libp2p peer id: {peer_id!r:.80} ({exc})") from None


def address_of_id(pid: ID) -> str:
    key = pid.extract_public_key()
    if not isinstance(key, Secp256k1PublicKey):
        kind = "no embedded key" if key is None else f"an {key.get_type().name} key"
        raise BadInputError(
            f"peer id {pid.to_base58()} has {kind}, not secp256k1: it is not a MILON member"
        )
    uncompressed = key.impl.format(compressed=False)  # 0x04 || X || Y
    return str(to_checksum_address(keccak(uncompressed[1:])[-20:]))


def address_of_peer(peer_id: str) -> str:
    """The checksummed Ethereum address whose key this peer ID embeds."""
    return address_of_id(parse_peer_id(peer_id))
