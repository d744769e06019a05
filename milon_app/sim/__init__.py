"""``milon sim``: the real contracts and node roles with many members, cheaply."""
