"""Reorganising a real anvil (what a block proposer, or chance, does to the newest blocks)."""

from __future__ import annotations

from milon_app.chain.client import ChainClient


def reorg(client: ChainClient, depth: int) -> None:
    """Replace the newest ``depth`` blocks with empty ones: anvil's ``anvil_reorg`` drops
    their transactions altogether (not even back in the pool)."""
    answer = client.w3.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]
    assert "error" not in answer, answer
    client.note_external_write()
