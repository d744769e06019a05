"""`milon wallet ...` end to end in-process: files, exit codes, JSON, and no secret leaks."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from milon_app.cli.context import Context
from milon_app.cli.main import build_parser, main
from milon_app.cli.registry import load_commands
from milon_app.config import Paths
from milon_app.errors import BadInputError

N = ["--scrypt-n", "16384"]  # tests only; the default is 2**18
KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEY_ADDR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
PW = "Tr0ub4dor&3-wallet-pw"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A private MILON home, no session bus, no keyring override: a headless machine."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    for name in (
        "PYTHON_KEYRING_BACKEND",
        "MILON_WALLET_PASSWORD_FILE",
        "MILON_WALLET_MASTER_PASSWORD_FILE",
        "MILON_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "milon"


def _secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    os.chmod(path, mode)
    return path


@pytest.fixture
def pwfile(tmp_path) -> Path:
    return _secret_file(tmp_path / "secrets" / "pw", PW)


@pytest.fixture
def keyfile(tmp_path) -> Path:
    return _secret_file(tmp_path / "secrets" / "key", "0x" + KEY)


def run(capsys, home: Path, *argv: str) -> tuple[int, str, str]:
    rc = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _ks(home: Path) -> Path:
    return home / "data" / "wallet" / "keystore.json"


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _write_config(home: Path, wallet: dict[str, str]) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.json").write_text(json.dumps({"wallet": wallet}))


def _pwstore(pwfile: Path) -> list[str]:
    return ["--secret-store", "password-file", "--password-file", str(pwfile)]


def test_create_show_export(capsys, home, pwfile, tmp_path):
    rc, out, err = run(capsys, home, "--json", "wallet", "create", *_pwstore(pwfile), *N)
    assert rc == 0, err
    data = json.loads(out)
    assert data["keystore"] == str(_ks(home)) and _mode(_ks(home)) == 0o600
    assert data["keystore_mode"] == "0600"
    assert data["secret_store"] == "password-file"
    assert str(pwfile) in data["password_kept_in"]
    address = data["address"]
    assert Account.from_key(Account.decrypt(_ks(home).read_text(), PW)).address == address

    rc, out, _ = run(capsys, home, "--json", "wallet", "show", "--secret-store", "password-file")
    shown = json.loads(out)
    assert rc == 0 and shown["address"] == address and shown["keystore"] == str(_ks(home))
    assert shown["secret_store"] == "password-file"
    assert shown["os_backend"] == "keyring.backends.SecretService.Keyring"
    assert shown["os_backend_secure"] is False

    rc, out, _ = run(capsys, home, "wallet", "show")
    assert rc == 0 and address in out and "os-keyring" in out and "not usable" in out

    dest = tmp_path / "backup" / "ks.json"
    rc, out, _ = run(capsys, home, "--json", "wallet", "export", "--out", str(dest))
    assert rc == 0 and json.loads(out)["exported_to"] == str(dest)
    assert dest.read_bytes() == _ks(home).read_bytes() and _mode(dest) == 0o600


def test_create_human_output_says_where_password_is(capsys, home, pwfile):
    rc, out, _ = run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N)
    assert rc == 0
    assert "created account 0x" in out
    assert f"password kept in: password file {pwfile}" in out


def test_headless_os_keyring_refused_before_writing(capsys, home, pwfile, tmp_path):
    rc, out, err = run(capsys, home, "wallet", "create", "--password-file", str(pwfile), *N)
    assert rc == 5
    assert out == ""
    for alt in ("encrypted-file", "prompt", "password-file", "--secret-store"):
        assert alt in err
    assert not _ks(home).exists()
    written = (
        [p for p in (tmp_path / "xdg-data").rglob("*") if p.is_file()]
        if (tmp_path / "xdg-data").exists()
        else []
    )
    assert written == []


def test_prompt_store_needs_terminal(capsys, home, pwfile):
    rc, _, err = run(capsys, home, "wallet", "create", "--secret-store", "prompt", *N)
    assert rc == 5 and "terminal" in err
    assert not _ks(home).exists()


def test_no_overwrite_without_force_then_backup(capsys, home, pwfile):
    assert run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N)[0] == 0
    before = _ks(home).read_bytes()
    rc, _, err = run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N)
    assert rc == 4 and "already exists" in err and "--force" in err and str(_ks(home)) in err
    assert _ks(home).read_bytes() == before
    assert run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N, "--force")[0] == 0
    backups = list(_ks(home).parent.glob("keystore.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == before and _mode(backups[0]) == 0o600
    assert _ks(home).read_bytes() != before


def test_config_keys_and_keystore_flag(capsys, home, pwfile, tmp_path):
    custom = tmp_path / "elsewhere" / "node.json"
    _write_config(
        home,
        {"keystore": str(custom), "secret_store": "password-file", "password_file": str(pwfile)},
    )
    rc, out, err = run(capsys, home, "--json", "wallet", "create", *N)
    assert rc == 0, err
    assert json.loads(out)["keystore"] == str(custom) and custom.exists()
    assert json.loads(out)["secret_store"] == "password-file"
    flag = tmp_path / "flag.json"
    rc, out, _ = run(capsys, home, "--json", "wallet", "create", "--keystore", str(flag), *N)
    assert rc == 0 and json.loads(out)["keystore"] == str(flag)
    # the password-file store unlocks without any --password-file flag
    rc, out, _ = run(capsys, home, "wallet", "export", "--private-key", "--yes")
    assert rc == 0 and out.strip().startswith("0x") and len(out.strip()) == 66


def test_bad_config_secret_store(capsys, home, pwfile):
    _write_config(home, {"secret_store": "plaintext"})
    rc, _, err = run(capsys, home, "wallet", "create", "--password-file", str(pwfile), *N)
    assert rc == 9 and "'plaintext'" in err


def test_missing_keystore(capsys, home):
    for cmd in (["show"], ["export", "--private-key", "--yes"], ["export", "--out", "x.json"]):
        rc, _, err = run(capsys, home, "wallet", *cmd)
        assert rc == 8
        assert str(_ks(home)) in err and "milon wallet create" in err


def test_import_key_file_and_stdin(capsys, home, pwfile, keyfile, monkeypatch):
    rc, out, err = run(
        capsys,
        home,
        "--json",
        "wallet",
        "import",
        "--key-file",
        str(keyfile),
        *_pwstore(pwfile),
        *N,
    )
    assert rc == 0, err
    assert json.loads(out)["address"] == KEY_ADDR
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    rc, out, _ = run(
        capsys,
        home,
        "--json",
        "wallet",
        "import",
        "--key-file",
        "-",
        "--force",
        *_pwstore(pwfile),
        *N,
    )
    assert rc == 0 and json.loads(out)["address"] == KEY_ADDR


def test_import_bad_key_and_unsafe_key_file(capsys, home, pwfile, tmp_path):
    bad = _secret_file(tmp_path / "bad", KEY[:-2] + "zz")
    rc, out, err = run(
        capsys, home, "wallet", "import", "--key-file", str(bad), *_pwstore(pwfile), *N
    )
    assert rc == 3 and "non-hex" in err and KEY[:16] not in out + err
    assert not _ks(home).exists()
    loose = _secret_file(tmp_path / "loose", KEY, 0o644)
    rc, _, err = run(
        capsys, home, "wallet", "import", "--key-file", str(loose), *_pwstore(pwfile), *N
    )
    assert rc == 3 and str(loose) in err and "0644" in err
    assert not _ks(home).exists()
    rc, _, err = run(capsys, home, "wallet", "import", *_pwstore(pwfile), *N)
    assert rc == 3 and "--key-file" in err


def test_password_file_mode_checked(capsys, home, tmp_path):
    loose = _secret_file(tmp_path / "loose-pw", PW, 0o640)
    rc, _, err = run(capsys, home, "wallet", "create", *_pwstore(loose), *N)
    assert rc == 3 and str(loose) in err and "mode 0640" in err
    assert not _ks(home).exists()


def test_password_file_from_env(capsys, home, pwfile, monkeypatch):
    monkeypatch.setenv("MILON_WALLET_PASSWORD_FILE", str(pwfile))
    rc, _, err = run(capsys, home, "wallet", "create", "--secret-store", "password-file", *N)
    assert rc == 0, err
    # the env file comes first: the (unavailable) default os-keyring store is not needed
    rc, out, _ = run(capsys, home, "wallet", "export", "--private-key", "--yes")
    assert rc == 0 and len(out.strip()) == 66


def test_import_keystore_file(capsys, home, pwfile, tmp_path):
    src = tmp_path / "foreign.json"
    src.write_text(json.dumps(Account.encrypt("0x" + KEY, PW, kdf="pbkdf2", iterations=1000)))
    rc, out, err = run(
        capsys,
        home,
        "--json",
        "wallet",
        "import",
        "--keystore-file",
        str(src),
        *_pwstore(pwfile),
        *N,
    )
    assert rc == 0, err
    assert json.loads(out)["address"] == KEY_ADDR
    assert json.loads(_ks(home).read_text())["crypto"]["kdf"] == "scrypt"


def test_import_keystore_wrong_password_or_corrupt(capsys, home, tmp_path):
    src = tmp_path / "foreign.json"
    src.write_text(json.dumps(Account.encrypt("0x" + KEY, "other", kdf="scrypt", iterations=2**14)))
    other_pw = _secret_file(tmp_path / "pw2", "not-it")
    rc, _, err = run(
        capsys, home, "wallet", "import", "--keystore-file", str(src), *_pwstore(other_pw), *N
    )
    assert rc == 4 and f"wrong password for keystore {src}" in err
    assert not _ks(home).exists()
    src.write_text('{"version": 3, "crypto": {')
    rc, _, err = run(
        capsys, home, "wallet", "import", "--keystore-file", str(src), *_pwstore(other_pw), *N
    )
    assert rc == 4 and str(src) in err and "not valid JSON" in err


def test_export_private_key_needs_yes_and_right_password(capsys, home, pwfile, tmp_path):
    assert run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N)[0] == 0
    rc, out, err = run(capsys, home, "wallet", "export", "--private-key", *_pwstore(pwfile))
    assert rc == 3 and "--yes" in err and out == ""
    before = (_ks(home).read_bytes(), _mode(_ks(home)))
    wrong = _secret_file(tmp_path / "wrong", "wrong-password")
    rc, out, err = run(
        capsys, home, "wallet", "export", "--private-key", "--yes", "--password-file", str(wrong)
    )
    assert rc == 4 and f"wrong password for keystore {_ks(home)}" in err and out == ""
    assert (_ks(home).read_bytes(), _mode(_ks(home))) == before
    rc, out, _ = run(
        capsys, home, "--json", "wallet", "export", "--private-key", "--yes", *_pwstore(pwfile)
    )
    key = json.loads(out)["private_key"]
    assert Account.from_key(key).address == json.loads(out)["address"]


def test_export_out_refuses_overwrite(capsys, home, pwfile, tmp_path):
    assert run(capsys, home, "wallet", "create", *_pwstore(pwfile), *N)[0] == 0
    dest = tmp_path / "copy.json"
    dest.write_text("precious")
    rc, _, err = run(capsys, home, "wallet", "export", "--out", str(dest))
    assert rc == 4 and "already exists" in err and dest.read_text() == "precious"
    assert run(capsys, home, "wallet", "export", "--out", str(dest), "--force")[0] == 0
    assert [p.read_text() for p in tmp_path.glob("copy.json.bak-*")] == ["precious"]


def test_encrypted_file_store_via_cli(capsys, home, pwfile, tmp_path, monkeypatch):
    master = _secret_file(tmp_path / "master", "master-password-123")
    monkeypatch.setenv("MILON_WALLET_MASTER_PASSWORD_FILE", str(master))
    rc, out, err = run(
        capsys,
        home,
        "--json",
        "wallet",
        "create",
        "--secret-store",
        "encrypted-file",
        "--password-file",
        str(pwfile),
        *N,
    )
    assert rc == 0, err
    store_file = home / "data" / "wallet" / "secrets.cryptfile"
    assert str(store_file) in json.loads(out)["password_kept_in"]
    assert _mode(store_file) == 0o600 and PW.encode() not in store_file.read_bytes()
    # a later run finds the password in the encrypted file (no --password-file)
    rc, out, err = run(
        capsys,
        home,
        "--json",
        "wallet",
        "export",
        "--private-key",
        "--yes",
        "--secret-store",
        "encrypted-file",
    )
    assert rc == 0, err
    assert Account.from_key(json.loads(out)["private_key"]).address == json.loads(out)["address"]
    # (a wrong master password is tested in tests/unit/wallet/test_secret_store.py)
    monkeypatch.delenv("MILON_WALLET_MASTER_PASSWORD_FILE")
    rc, _, err = run(
        capsys,
        home,
        "wallet",
        "export",
        "--private-key",
        "--yes",
        "--secret-store",
        "encrypted-file",
    )
    assert rc == 5 and "MILON_WALLET_MASTER_PASSWORD_FILE" in err


def test_store_failure_removes_fresh_keystore(capsys, home, pwfile, tmp_path, monkeypatch):
    """If the password cannot be stored, no keystore is left behind whose password is lost."""
    from milon_app.wallet import EncryptedFileStore

    store_file = home / "data" / "wallet" / "secrets.cryptfile"
    # made at a cheap Argon2 cost: to the CLI's default cost it reads like a wrong master password
    EncryptedFileStore(store_file, lambda: "m", argon_cost=(1, 1024)).set("0xother", "x")
    before = store_file.read_bytes()
    wrong = _secret_file(tmp_path / "master", "a-wrong-master")
    monkeypatch.setenv("MILON_WALLET_MASTER_PASSWORD_FILE", str(wrong))
    rc, out, err = run(
        capsys,
        home,
        "wallet",
        "create",
        "--secret-store",
        "encrypted-file",
        "--password-file",
        str(pwfile),
        *N,
    )
    assert rc == 4 and f"wrong master password for the encrypted secret store {store_file}" in err
    assert out == ""
    assert not _ks(home).exists()
    assert sorted(p.name for p in _ks(home).parent.iterdir()) == ["secrets.cryptfile"]
    assert store_file.read_bytes() == before


# ------------------------------------------------------------ interactive paths


def _handler_run(home: Path, argv: list[str]) -> tuple[int, str, str]:
    args = build_parser(load_commands()).parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(paths=Paths.default(home), interactive=True, out=out, err=err)
    rc = args._command.run(args, ctx)
    return rc, out.getvalue(), err.getvalue()


def _typing(monkeypatch, answers: list[str]) -> list[str]:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "", stream: object = None) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    return prompts


def test_interactive_create_asks_twice_and_retries(home, monkeypatch):
    prompts = _typing(monkeypatch, ["", "abc", "abd", PW, PW, PW])
    rc, out, _ = _handler_run(home, ["wallet", "create", "--secret-store", "prompt", *N])
    assert rc == 0 and "not stored" in out
    assert prompts[0].startswith("New keystore password")
    # prompt store: the password is asked for again at the next start
    monkeypatch.setattr("builtins.input", lambda _p="": "yes")
    rc, out, _ = _handler_run(
        home, ["wallet", "export", "--private-key", "--secret-store", "prompt"]
    )
    assert (
        rc == 0 and out.strip().startswith("0x") and "Password for the keystore of" in prompts[-1]
    )


def test_interactive_create_gives_up_after_three_mismatches(home, monkeypatch):
    _typing(monkeypatch, ["a", "b", "c", "d", "e", "f"])
    with pytest.raises(BadInputError, match="did not match 3 times"):
        _handler_run(home, ["wallet", "create", "--secret-store", "prompt", *N])
    assert not _ks(home).exists()


def test_interactive_import_key_and_declined_export(home, monkeypatch):
    _typing(monkeypatch, [KEY, PW, PW])
    rc, out, _ = _handler_run(home, ["wallet", "import", "--secret-store", "prompt", *N])
    assert rc == 0 and KEY_ADDR in out and KEY not in out
    monkeypatch.setattr("builtins.input", lambda _p="": "no")
    with pytest.raises(BadInputError, match="cancelled"):
        _handler_run(home, ["wallet", "export", "--private-key", "--secret-store", "prompt"])


# ------------------------------------------------------------ secrets never leak


def test_secrets_never_in_output_or_logs(capsys, caplog, home, pwfile, keyfile, tmp_path):
    caplog.set_level(logging.DEBUG)
    wrong = _secret_file(tmp_path / "wrong", "WrongPassword-XYZ")
    bad_key = _secret_file(tmp_path / "badkey", KEY[:-1] + "g")
    loose = _secret_file(tmp_path / "loosekey", KEY, 0o644)
    src = tmp_path / "foreign.json"
    src.write_text(json.dumps(Account.encrypt("0x" + KEY, PW, kdf="scrypt", iterations=2**14)))
    seen = []
    steps = [
        ["wallet", "import", "--key-file", str(keyfile), *_pwstore(pwfile), *N],
        ["wallet", "import", "--key-file", str(keyfile), *_pwstore(pwfile), *N],  # exists
        ["wallet", "import", "--key-file", str(bad_key), *_pwstore(pwfile), *N, "--force"],
        ["wallet", "import", "--key-file", str(loose), *_pwstore(pwfile), *N, "--force"],
        ["wallet", "import", "--keystore-file", str(src), *_pwstore(wrong), *N, "--force"],
        ["wallet", "import", "--keystore-file", str(src), *_pwstore(pwfile), *N, "--force"],
        ["wallet", "create", "--password-file", str(pwfile), *N, "--force"],  # no keyring
        ["wallet", "show"],
        ["wallet", "export", "--out", str(tmp_path / "out.json")],
        ["wallet", "export", "--private-key", "--yes", "--password-file", str(wrong)],
        ["wallet", "export", "--private-key", *_pwstore(pwfile)],  # no --yes
    ]
    for argv in steps:
        for json_flag in ([], ["--json"]):
            rc = main(["--home", str(home), "-vv", *json_flag, *argv])
            out, err = capsys.readouterr()
            seen.append((argv, rc, out + err))
    assert [rc for _, rc, _ in seen[::2]] == [0, 4, 3, 3, 4, 0, 5, 0, 0, 4, 3]
    logs = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    for secret in (KEY, KEY.upper(), KEY[:20], PW, "WrongPassword-XYZ"):
        assert secret not in logs
        for argv, _, text in seen:
            assert secret not in text, argv


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_real_terminal_password_prompt_is_hidden(home, tmp_path):
    """`milon wallet create` in a pty: asks twice on the terminal, never echoes the password."""
    import pty
    import select
    import shutil
    import sys
    import time

    exe = shutil.which("milon")
    argv = [exe] if exe else [sys.executable, "-m", "milon_app"]
    argv += ["--home", str(home), "wallet", "create", "--secret-store", "prompt", *N]
    pid, fd = pty.fork()
    if pid == 0:  # child: becomes the command, with the pty as its terminal
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)  # never fall back into pytest in the child
    seen = b""

    def read_until(token: bytes, timeout: float = 20) -> bool:
        nonlocal seen
        end = time.monotonic() + timeout
        while token not in seen and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    return token in seen
        return token in seen

    try:
        for _ in range(2):
            assert read_until(b"password: "), seen
            seen = b""
            os.write(fd, b"typed-at-the-terminal\n")
        read_until(b"password kept in")
        read_until(b"\x00", timeout=2)  # drain until the child exits
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"created account 0x" in seen
    assert b"typed-at-the-terminal" not in seen
    assert _ks(home).exists()
