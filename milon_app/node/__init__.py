"""The node core: roles, round protocol, event bus and local state (never imports Qt)."""
