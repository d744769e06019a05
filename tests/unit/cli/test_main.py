from __future__ import annotations

import subprocess
import sys

from milon_app import __version__
from milon_app.cli.main import main
from milon_app.cli.registry import load_commands
from milon_app.exit_codes import ExitCode


def run(*args: str, **kw):
    return subprocess.run(
        [sys.executable, "-m", "milon_app", *args], capture_output=True, text=True, **kw
    )


def test_version():
    res = run("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"milon {__version__}"


def test_help_lists_registered_commands():
    res = run("--help")
    assert res.returncode == 0
    for word in ("devnet", "deploy", "chain", "wallet", "hw"):
        assert word in res.stdout


def test_no_arguments_opens_the_desktop_app(monkeypatch, tmp_path, capsys):
    import milon_app.gui.app as gui_app

    calls = []

    def fake_run_app(home):  # stands in for the window only; main's dispatch is what is tested
        calls.append(home)
        return 7

    monkeypatch.setattr(gui_app, "run_app", fake_run_app)
    assert main([]) == 7
    assert calls == [None]
    assert main(["--home", str(tmp_path)]) == 7
    assert calls[-1] == tmp_path
    assert "usage: milon" not in capsys.readouterr().out


def test_help_still_prints_help_and_succeeds():
    res = run("--help")
    assert res.returncode == 0
    assert "usage: milon" in res.stdout


def test_json_without_a_command_prints_help_instead_of_opening_a_window(capsys):
    assert main(["--json"]) == ExitCode.USAGE
    assert "usage: milon" in capsys.readouterr().out


def test_group_without_subcommand_is_a_usage_error(capsys):
    assert main(["chain"]) == ExitCode.USAGE
    assert "info" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    res = run("frobnicate")
    assert res.returncode == ExitCode.USAGE
    assert "invalid choice" in res.stderr


def test_every_command_has_a_summary():
    for cmd in load_commands():
        assert cmd.summary, cmd.path


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from milon_app.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'web3', 'libp2p', 'PySide6') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip().splitlines()[-1] == "HEAVY="
