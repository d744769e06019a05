"""Headless front-end: ``milon --daemon`` and its loopback status channel."""
