"""Process exit codes of every ``milon`` command, documented in one place.

Scripts and service managers key off these numbers, so they never change
meaning; new failures get new numbers. ``docs/exit-codes.md`` is checked
against this table by a test.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # unexpected internal error (a bug: please report it)
    USAGE = 2  # bad command line (argparse's own code)
    BAD_INPUT = 3  # a file or value given by the user is malformed or out of bounds
    WALLET = 4  # wallet problem: wrong password, corrupted or missing keystore
    KEYRING = 5  # no usable secret store, or the user's choice is needed
    CHAIN = 6  # chain problem: RPC unreachable, wrong chain id, contracts missing, revert
    NETWORK = 7  # peer-to-peer problem: no peers, transfer failed
    NOT_FOUND = 8  # a named thing (blob, job, federation, file) does not exist
    CONFIG = 9  # the config file is malformed or holds an invalid value
    HARDWARE = 10  # the requested compute device is not available
    TRAINING = 11  # training failed or diverged
    STORAGE = 12  # could not write to disk (full, read-only or not permitted)
    TIMEOUT = 13  # waited as long as asked and what was awaited did not happen
    INTERRUPTED = 130  # stopped by Ctrl-C / SIGINT


DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILURE: "unexpected internal error (a bug: please report it)",
    ExitCode.USAGE: "bad command line",
    ExitCode.BAD_INPUT: "a file or value given by the user is malformed or out of bounds",
    ExitCode.WALLET: "wallet problem: wrong password, corrupted or missing keystore",
    ExitCode.KEYRING: "no usable secret store, or an explicit choice of one is needed",
    ExitCode.CHAIN: "chain problem: RPC unreachable, wrong chain id, contracts missing, revert",
    ExitCode.NETWORK: "peer-to-peer problem: no peers, transfer failed",
    ExitCode.NOT_FOUND: "a named thing (blob, job, federation, file) does not exist",
    ExitCode.CONFIG: "the config file is malformed or holds an invalid value",
    ExitCode.HARDWARE: "the requested compute device is not available",
    ExitCode.TRAINING: "training failed or diverged",
    ExitCode.STORAGE: "could not write to disk (full, read-only or not permitted)",
    ExitCode.TIMEOUT: "waited as long as asked and what was awaited did not happen",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C / SIGINT",
}
