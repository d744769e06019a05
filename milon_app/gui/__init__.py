"""The desktop app (PySide6). Depends on the core; nothing in the core imports it."""
