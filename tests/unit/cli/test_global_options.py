"""The global options (--json, -v/--verbose, --home, --config) mean the same before or after
the command, for every registered command and group."""

from __future__ import annotations

import argparse

import pytest

from milon_app.cli.context import Context
from milon_app.cli.main import build_parser, main, merge_global_options
from milon_app.cli.registry import Registry, load_commands
from milon_app.config import Paths

REGISTRY = load_commands()
PARSER = build_parser(REGISTRY)


def _required(cmd_path: tuple[str, ...]) -> list[str]:
    """Values for a command's required arguments, so that it parses."""
    sub = argparse.ArgumentParser()
    REGISTRY.get(*cmd_path).configure(sub)
    out: list[str] = []
    chosen = [g._group_actions[0] for g in sub._mutually_exclusive_groups if g.required]
    for action in sub._actions:
        if not (action.required or action in chosen) and action.option_strings:
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        value = action.choices[0] if action.choices else "1"
        nargs = action.nargs
        values = [] if nargs == 0 else [str(value)]
        if action.option_strings:
            out += [action.option_strings[0], *values]
        elif nargs not in ("?", "*"):
            out += values
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    return merge_global_options(PARSER.parse_args(argv))


@pytest.mark.parametrize("path", [c.path for c in REGISTRY], ids=" ".join)
def test_every_command_takes_the_global_options_before_or_after(path, tmp_path):
    rest = _required(path)
    flags = ["--json", "-v", "--home", str(tmp_path), "--config", str(tmp_path / "n.toml")]
    before = parse([*flags, *path, *rest])
    after = parse([*path, *rest, *flags])
    for args in (before, after):
        assert args.json is True and args.verbose == 1
        assert args.home == str(tmp_path) and args.config == tmp_path / "n.toml"
        assert args._command is REGISTRY.get(*path)
    assert vars(before) == vars(after)
    plain = parse([*path, *rest])
    assert (plain.json, plain.verbose, plain.home, plain.config) == (False, 0, None, None)


@pytest.mark.parametrize("group", sorted(REGISTRY.groups), ids=" ".join)
def test_groups_take_them_too(group):
    assert parse([*group, "--json"]).json is True


def test_verbosity_counts_over_both_places_and_the_later_home_wins(tmp_path):
    args = parse(["-v", "--home", "a", "hw", "-vv", "--home", str(tmp_path)])
    assert args.verbose == 3 and args.home == str(tmp_path)


def test_hw_json_after_the_command_prints_json(capsys, tmp_path):
    """The README's habit, `milon hw --json`: JSON on stdout, not 'unrecognized arguments'."""
    import json

    assert main(["hw", "--json", "--home", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "hardware" in data


def test_config_after_the_command_is_the_config_commands_read(tmp_path):
    toml = tmp_path / "node.toml"
    toml.write_text('[chain]\nrpc_url = "http://127.0.0.1:9"\n')
    args = parse(["wallet", "show", "--config", str(toml)])
    ctx = Context(paths=Paths.default(tmp_path), config_path=args.config)
    assert ctx.config.chain.rpc_url == "http://127.0.0.1:9"


def test_registry_with_a_command_parses_both_ways():
    reg = Registry()
    reg.command("x", "y", summary="s")(lambda a, c: 0)
    p = build_parser(reg)
    assert merge_global_options(p.parse_args(["x", "y", "--json"])).json
    assert merge_global_options(p.parse_args(["--json", "x", "y"])).json
