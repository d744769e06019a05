"""The packaging files agree with each other and with the code; no build needed.

The installers are built and smoke-tested by installers/build_linux.sh and
installers/smoke_test.sh (minutes); this test catches the cheap mistakes
before that: a desktop entry or a service unit that points elsewhere than
/usr/bin/milon, a spec that lists a file that is gone, a keyring backend the
code picks but the bundle lacks, versions that disagree.
"""

from __future__ import annotations

import ast
import configparser
import io
import plistlib
import re
import struct
import sys
from pathlib import Path

import pytest

from milon_app import __version__
from milon_app.config import APP_NAME, Paths
from milon_app.exit_codes import ExitCode
from milon_app.wallet.os_keyring import platform_candidates

ROOT = Path(__file__).resolve().parents[2]
INST = ROOT / "installers"
RES = ROOT / "resources"


def ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def spec_value(name: str) -> object:
    """A literal-ish top-level assignment of installers/milon.spec, evaluated safely."""
    tree = ast.parse((INST / "milon.spec").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
    raise AssertionError(f"{name} is not assigned in installers/milon.spec")


def spec_strings(name: str) -> list[str]:
    return [n.value for n in ast.walk(spec_value(name))  # type: ignore[arg-type]
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# -- the desktop entry and the systemd unit ---------------------------------------------------

def test_desktop_entry_launches_usr_bin_milon_with_an_installed_icon():
    entry = ini(RES / "milon.desktop")["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/usr/bin/milon"  # no arguments: the window
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == APP_NAME
    assert entry["Categories"].endswith(";")
    icons = sorted((RES / "icons" / "hicolor").glob("*/apps/milon.png"))
    assert len(icons) >= 6
    for icon in icons:
        n = int(icon.parts[-3].split("x")[0])
        assert png_size(icon.read_bytes()) == (n, n), icon


def test_systemd_user_unit_runs_the_daemon_with_the_users_settings():
    unit = ini(INST / "linux" / "milon-daemon.service")
    exec_start = unit["Service"]["ExecStart"].split()
    assert exec_start[:2] == ["/usr/bin/milon", "--daemon"]
    # %E is $XDG_CONFIG_HOME for a user unit: the same file Paths.default() reads
    cond = unit["Unit"]["ConditionPathExists"]
    assert cond == f"%E/{APP_NAME}/{Paths.default(Path('/x')).config_file.name}"
    assert unit["Service"]["KillSignal"] == "SIGTERM"  # the daemon stops cleanly on it
    no_restart = {ExitCode(int(c)) for c in unit["Service"]["RestartPreventExitStatus"].split()}
    assert ExitCode.CONFIG in no_restart and ExitCode.WALLET in no_restart
    assert ExitCode.CHAIN not in no_restart and ExitCode.NETWORK not in no_restart  # transient
    assert unit["Install"]["WantedBy"] == "default.target"  # a user unit, not multi-user


def test_deb_layout_matches_the_unit_and_the_desktop_entry():
    script = (INST / "build_linux.sh").read_text(encoding="utf-8")
    assert 'ln -s ../lib/milon/milon "$DEB_ROOT/usr/bin/milon"' in script
    assert "usr/lib/systemd/user/milon-daemon.service" in script
    assert "usr/share/applications/milon.desktop" in script
    assert "dpkg-deb --root-owner-group" in script
    control = (INST / "linux" / "control.in").read_text(encoding="utf-8")
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line
                  and not line.startswith(" "))
    assert fields["Package"] == APP_NAME
    assert fields["Version"] == "@VERSION@"
    assert "libxcb-cursor0" in fields["Depends"]  # Qt 6.5+ xcb needs it


# -- the spec ---------------------------------------------------------------------------------

def test_spec_data_files_exist():
    sources = [s for s in spec_strings("DATAS") if "/" not in s]  # path parts and destinations
    assert {"artifacts", "resources"} <= set(sources)
    assert list((ROOT / "milon_app" / "chain" / "artifacts").glob("*.json"))
    assert list((ROOT / "milon_app" / "gui" / "resources").glob("*.png"))
    assert (INST / "milon_entry.py").is_file()
    for icon in ("milon.png", "milon.ico", "milon.icns"):
        assert (RES / icon).is_file(), f"run installers/make_icons.py: {icon} missing"


def test_spec_collects_data_files_the_code_reads_from_packages():
    spec = (INST / "milon.spec").read_text(encoding="utf-8")
    client = (ROOT / "milon_app" / "chain" / "client.py").read_text(encoding="utf-8")
    if "from_mnemonic" in client:  # BIP-39 word lists are data files of eth_account
        assert 'collect_data_files("eth_account")' in spec
    hidden = set(spec_strings("HIDDEN"))
    assert {"PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets"} <= hidden  # pyqtgraph, by name
    # these read their own version from package metadata at import (a bundle has none)
    assert {"web3", "eth-bloom", "py-evm", "eth-account", "libp2p"} <= set(spec_strings("METADATA"))


def test_spec_bundles_every_keyring_backend_the_code_picks():
    hidden = set(spec_strings("HIDDEN"))
    for platform in ("linux", "darwin", "win32"):
        for backend in platform_candidates(platform):
            assert backend.rpartition(".")[0] in hidden, backend
    assert "keyrings.cryptfile.cryptfile" in hidden
    assert "coincurve._cffi_backend" in hidden
    assert {"eth", "eth_tester", "multiaddr", "milon_app"} <= hidden  # modules imported by name


def test_spec_excludes_no_module_the_app_imports():
    excluded = set(spec_strings("EXCLUDES")) | {
        f"PySide6.{m}" for m in spec_strings("QT_UNUSED") if m.startswith("Qt")
    }
    imported: set[str] = set()
    for path in (ROOT / "milon_app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
    clash = {m for m in imported for x in excluded if m == x or m.startswith(x + ".")}
    assert not clash, f"the spec excludes modules milon_app imports: {sorted(clash)}"
    assert "PySide6.QtWidgets" not in excluded and "torch" not in excluded


def test_spec_drops_only_paths_no_code_loads():
    drops = spec_strings("DROP_PREFIXES")
    assert all(p.startswith(("torch/", "PySide6/")) for p in drops)
    assert not any(p in ("torch/lib/", "torch/", "PySide6/Qt/lib/", "PySide6/Qt/plugins/platforms/")
                   for p in drops)


# -- versions and pins ------------------------------------------------------------------------

def test_every_script_reads_the_one_version():
    pattern = re.compile(r'^__version__ = "([^"]+)"', re.M)  # what the sed lines extract
    text = (ROOT / "milon_app" / "__init__.py").read_text(encoding="utf-8")
    assert pattern.search(text).group(1) == __version__  # type: ignore[union-attr]
    for script in ("build_linux.sh", "windows/compile_check.sh", "macos/make_dmg.sh"):
        assert "s/^__version__ = " in (INST / script).read_text(encoding="utf-8"), script
    nsi = (INST / "windows" / "milon.nsi").read_text(encoding="utf-8")
    assert f'!define VERSION "{__version__}"' in nsi


def test_build_requirements_are_pinned_alike_on_every_platform():
    pins = {}
    for plat in ("linux", "windows", "macos"):
        lines = (INST / plat / "requirements-build.txt").read_text(encoding="utf-8").splitlines()
        reqs = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
        assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][\w.]*", r) for r in reqs), reqs
        pins[plat] = reqs
    assert pins["linux"] == pins["windows"] == pins["macos"]
    assert any(r.startswith("pyinstaller==") for r in pins["linux"])
    for script in ("build_linux.sh", "macos/make_dmg.sh"):
        assert "pip\" install -q torch==2.13.0" in (INST / script).read_text(encoding="utf-8")


# -- Windows and macOS ------------------------------------------------------------------------

def test_nsis_script_uses_the_executables_the_spec_builds():
    nsi = (INST / "windows" / "milon.nsi").read_text(encoding="utf-8")
    spec = (INST / "milon.spec").read_text(encoding="utf-8")
    assert 'name=f"{APP}-gui"' in spec and 'APP = "milon"' in spec
    assert 'CreateShortcut "$SMPROGRAMS\\MILON\\MILON.lnk" "$INSTDIR\\milon-gui.exe"' in nsi
    assert 'WriteUninstaller "$INSTDIR\\Uninstall.exe"' in nsi
    assert re.search(r'Section /o "Run the node in the background[^"]*"', nsi)  # optional
    assert '"$INSTDIR\\milon-gui.exe" --daemon' in nsi
    assert "RequestExecutionLevel user" in nsi
    uninstall = nsi.split('Section "Uninstall"')[1]
    assert "DeleteRegValue HKCU \"${RUN_KEY}\"" in uninstall
    assert "RMDir /r \"$INSTDIR\"" not in uninstall  # never a recursive delete of a chosen dir


def test_macos_launch_agent_runs_the_app_bundles_console_executable():
    with (INST / "macos" / "io.milon.daemon.plist").open("rb") as f:
        agent = plistlib.load(f)
    assert agent["Label"] == "io.milon.daemon"
    assert agent["ProgramArguments"] == ["/Applications/MILON.app/Contents/MacOS/milon",
                                         "--daemon"]
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    spec = (INST / "milon.spec").read_text(encoding="utf-8")
    assert 'name="MILON.app"' in spec and 'bundle_identifier="io.milon.app"' in spec
    icns = (RES / "milon.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    ico = (RES / "milon.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and struct.unpack("<H", ico[4:6])[0] >= 5


def test_ci_workflow_runs_the_scripts_that_exist():
    wf = (ROOT / ".github" / "workflows" / "installers.yml").read_text(encoding="utf-8")
    for os_name in ("ubuntu-", "windows-", "macos-"):
        assert os_name in wf
    used = set(re.findall(r"installers/[\w/.-]+\.(?:sh|py|spec|nsi|txt)", wf))
    assert {"installers/build_linux.sh", "installers/smoke_test.sh",
            "installers/windows/compile_check.sh", "installers/macos/make_dmg.sh"} <= used
    for rel in used:
        assert (ROOT / rel).is_file(), rel
    assert "\t" not in wf


def test_shell_scripts_stop_on_errors():
    for script in INST.rglob("*.sh"):
        text = script.read_text(encoding="utf-8")
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in text, script


# -- the small code changes a frozen bundle needs ---------------------------------------------

def test_entry_point_gives_a_windowed_build_null_streams(monkeypatch):
    sys.path.insert(0, str(INST))
    try:
        import milon_entry
    finally:
        sys.path.remove(str(INST))
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    milon_entry._null_streams()
    try:
        print("lost", file=sys.stdout)
        sys.stderr.write("lost\n")
    finally:
        sys.stdout.close()
        sys.stderr.close()


class Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(len(self.getvalue()))
        super().flush()


@pytest.mark.parametrize("as_json", [True, False])
def test_context_emit_flushes_for_readers_of_a_pipe(tmp_path, as_json):
    from milon_app.cli.context import Context

    out = Recorder()
    ctx = Context(paths=Paths.default(tmp_path), json_output=as_json, out=out)
    ctx.emit({"rpc_url": "http://127.0.0.1:8545"}, lambda d: f"RPC URL {d['rpc_url']}")
    assert out.flushed_at == [len(out.getvalue())]  # everything written was flushed
