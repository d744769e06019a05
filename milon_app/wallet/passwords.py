"""Typing passwords at a terminal: hidden input, confirmation for new ones.

Passwords are never accepted as command-line arguments (they would show in
``ps`` and shell history); non-interactive runs use 0600 files instead.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

from milon_app.errors import BadInputError

Ask = Callable[[str], str]
ATTEMPTS = 3


def getpass_ask(prompt: str) -> str:
    """Hidden input from the terminal; end of input is an error, not an empty password."""
    try:
        return getpass.getpass(prompt, stream=sys.stderr)
    except EOFError:
        raise BadInputError("no password entered (end of input)") from None


def ask_new_password(ask: Ask, what: str) -> str:
    """Ask twice; refuse empty or mismatched entries after a few attempts."""
    for _ in range(ATTEMPTS):
        first = ask(f"New {what}: ")
        if not first:
            sys.stderr.write("The password must not be empty.\n")
            continue
        if ask(f"Repeat the {what}: ") == first:
            return first
        sys.stderr.write("The two entries differ.\n")
    raise BadInputError(f"no {what} set: entries were empty or did not match {ATTEMPTS} times")
