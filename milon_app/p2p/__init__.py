"""Peer transport: content-addressed blob exchange and small control messages."""
