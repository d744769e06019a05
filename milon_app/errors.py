"""The error hierarchy shared by every layer.

Each error carries the exit code a command should end with, so front-ends
map failures to exit codes without knowing every error type.
"""

from __future__ import annotations

from milon_app.exit_codes import ExitCode


class MilonError(Exception):
    """Base of all expected failures: the message is shown to the user as is."""

    exit_code: ExitCode = ExitCode.FAILURE


class BadInputError(MilonError, ValueError):
    exit_code = ExitCode.BAD_INPUT


class NotFoundError(MilonError):
    exit_code = ExitCode.NOT_FOUND


class ConfigError(MilonError):
    exit_code = ExitCode.CONFIG


class WalletError(MilonError):
    exit_code = ExitCode.WALLET


class KeyringUnavailableError(MilonError):
    exit_code = ExitCode.KEYRING


class ChainError(MilonError):
    exit_code = ExitCode.CHAIN


class NetworkError(MilonError):
    exit_code = ExitCode.NETWORK


class HardwareError(MilonError):
    exit_code = ExitCode.HARDWARE


class TrainingError(MilonError):
    exit_code = ExitCode.TRAINING


class WaitTimeoutError(MilonError):
    """A command asked to wait (``milon job wait --timeout``) ran out of time."""

    exit_code = ExitCode.TIMEOUT
