"""Compiled contract artifacts shipped as package data (no node or solc at run time)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from milon_app.errors import NotFoundError

CONTRACT_NAMES = (
    "MilonToken",
    "MilonTimelock",
    "MilonGovernor",
    "FederationRegistry",
    "TrainingJobs",
    "ModelRegistry",
)


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """ABI, bytecode and build info of one contract."""
    try:
        text = resources.files("milon_app.chain").joinpath(f"artifacts/{name}.json").read_text()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no compiled artifact for contract {name!r}") from exc
    data: dict[str, Any] = json.loads(text)
    return data


def all_abis() -> list[list[dict[str, Any]]]:
    """ABIs of every shipped contract (used to name custom errors from any of them)."""
    out = []
    for name in CONTRACT_NAMES:
        try:
            out.append(load_artifact(name)["abi"])
        except NotFoundError:
            continue
    return out
