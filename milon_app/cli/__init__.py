"""Command-line front-end: one registry of commands shared by CLI, daemon and GUI."""
