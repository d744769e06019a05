"""Security checks CI runs on every commit.

1. An AST scan of every module in ``milon_app/``: no pickle-family imports,
   no ``torch.load`` at all (weights are safetensors only), no eval/exec, no
   unsafe YAML, no shell=True, no ``np.load`` without ``allow_pickle=False``.
   The scanner is shown to catch each pattern in a planted snippet first.
2. Files that hold secrets are created 0600 (folders 0700) even under a
   umask of 0, and stay 0600 when re-saved: keystores, their backups and
   exports, the encrypted password store, the daemon's control token.
3. The config a wallet command writes never holds the password or the key.
4. Plaintext libp2p is refused in both directions (inbound: see
   tests/unit/p2p/test_libp2p_transport.py::test_plaintext_only_dialer_is_refused).
"""

from __future__ import annotations

import ast
import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import milon_app

PACKAGE = Path(milon_app.__file__).parent
BANNED_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
}
SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
}


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def scan_source(source: str, where: str) -> list[str]:
    """Findings (``where:line: what``) for one module's source."""
    found = []
    tree = ast.parse(source)

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in BANNED_MODULES:
                    hit(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")[0]
            if mod in BANNED_MODULES:
                hit(node, f"imports from {node.module}")
            if node.module in ("torch", "torch.serialization") and any(
                a.name == "load" for a in node.names
            ):
                hit(node, f"imports load from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            tail = tuple(name.split(".")[-2:])
            if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
                hit(node, f"calls {name}")
            if name.endswith("torch.load") or name.endswith("serialization.load"):
                hit(node, "calls torch.load (weights are safetensors only)")
            if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
                hit(node, f"calls {name} (use yaml.safe_load)")
            if tail in SHELL_CALLS:
                hit(node, f"calls {name} (a shell)")
            shell = _kw(node, "shell")
            if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
                hit(node, f"calls {name} with shell=...")
            if name in ("np.load", "numpy.load"):
                allow = _kw(node, "allow_pickle")
                if not (isinstance(allow, ast.Constant) and allow.value is False):
                    hit(node, "calls np.load without allow_pickle=False")
            if name.endswith("__import__") or name == "importlib.import_module":
                arg = node.args[0] if node.args else None
                if not isinstance(arg, ast.Constant) and name != "importlib.import_module":
                    hit(node, f"calls {name} with a computed name")
    return found


PLANTED = {
    "import pickle": "imports pickle",
    "import marshal as m": "imports marshal",
    "from shelve import open": "imports from shelve",
    "from torch import load": "imports load from torch",
    "import torch\ntorch.load(path)": "calls torch.load",
    "torch.load(path, weights_only=True)": "calls torch.load",
    "eval(text)": "calls eval",
    "exec(code)": "calls exec",
    "yaml.load(text)": "calls yaml.load",
    "subprocess.run(cmd, shell=True)": "with shell=",
    "subprocess.Popen(cmd, shell=flag)": "with shell=",
    "os.system(cmd)": "calls os.system",
    "np.load(path)": "np.load without allow_pickle=False",
    "np.load(path, allow_pickle=True)": "np.load without allow_pickle=False",
}


@pytest.mark.parametrize("snippet", sorted(PLANTED))
def test_the_scanner_catches_each_pattern(snippet):
    findings = scan_source(snippet, "planted.py")
    assert findings and PLANTED[snippet] in findings[0], findings


def test_the_scanner_passes_safe_forms():
    safe = (
        "subprocess.run(cmd, shell=False)\nnp.load(p, allow_pickle=False)\n"
        "yaml.safe_load(t)\nimport json\nfrom safetensors.torch import load\nload(data)\n"
    )
    assert scan_source(safe, "safe.py") == []


def test_no_unsafe_deserialisation_or_code_execution_in_milon_app():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the scan really covers the package
    findings = [
        f
        for path in modules
        for f in scan_source(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    ]
    assert findings == []


# ---------------------------------------------------------------- file modes of secrets


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


PW = "throwaway-scan-password"  # a labelled test password


def test_secret_files_are_0600_even_with_umask_0_and_after_resave(tmp_path):
    from milon_app.daemon.control import TOKEN_FILE, control_dir, load_or_create_token
    from milon_app.wallet.keystore import Wallet

    with _umask(0):
        ks = tmp_path / "wallet" / "keystore.json"
        wallet = Wallet.create(ks, PW, kdf_n=2**14)
        assert _mode(ks) == 0o600 and _mode(ks.parent) == 0o700
        key = bytes(wallet.unlock(PW).key)
        Wallet.import_key(ks, key, PW + "2", kdf_n=2**14, force=True)  # re-save
        backups = list(ks.parent.glob("keystore.json.bak-*"))
        assert _mode(ks) == 0o600 and len(backups) == 1 and _mode(backups[0]) == 0o600
        exported = wallet.export_keystore(tmp_path / "out" / "copy.json")
        assert _mode(exported) == 0o600
        ks.chmod(0o644)  # a user loosened it; the next save tightens it again
        Wallet.import_key(ks, key, PW, kdf_n=2**14, force=True)
        assert _mode(ks) == 0o600

        load_or_create_token(tmp_path)
        token = control_dir(tmp_path) / TOKEN_FILE
        assert _mode(token) == 0o600


def test_encrypted_password_store_is_0600_with_umask_0(tmp_path):
    from milon_app.wallet.secret_store import EncryptedFileStore

    with _umask(0):
        store = EncryptedFileStore(
            tmp_path / "wallet" / "secrets.cryptfile", lambda: "master", argon_cost=(1, 1024)
        )
        store.set("0x" + "11" * 20, PW)
        assert _mode(store.path) == 0o600
        store.set("0x" + "22" * 20, PW + "2")  # re-save
        assert _mode(store.path) == 0o600 and PW.encode() not in store.path.read_bytes()


def test_the_first_run_setup_never_puts_secrets_in_the_config(tmp_path):
    """The setup (wizard) is what writes wallet choices into the config; also see
    tests/unit/session/test_setup.py, which checks the same for each wallet kind."""
    from milon_app.config import Paths
    from milon_app.session.setup import NetworkChoice, SecretChoice, WalletChoice, apply_setup
    from milon_app.wallet.keystore import MIN_KDF_N

    key_hex = os.urandom(32).hex()  # a THROWAWAY key
    pw = tmp_path / "pw"
    pw.write_text(PW + "\n")
    pw.chmod(0o600)
    for i, secret in enumerate(
        [
            SecretChoice("password-file", str(pw)),
            SecretChoice(
                "encrypted-file",
                master_password="throwaway-master",
                master_confirm="throwaway-master",
            ),
        ]
    ):
        paths = Paths.default(tmp_path / f"home{i}")
        wallet = WalletChoice("import-key", PW, PW, private_key=key_hex)
        result = apply_setup(paths, wallet, secret, NetworkChoice("simulated"), kdf_n=MIN_KDF_N)
        text = result.config_file.read_text().lower()
        assert "wallet" in text  # the choices were written...
        for secret_text in (PW.lower(), key_hex, "throwaway-master"):
            assert secret_text not in text  # ...and no secret with them
        for path in paths.config_dir.rglob("*"):
            assert not path.is_file() or key_hex not in path.read_text().lower()


# ---------------------------------------------------------------- plaintext libp2p


def test_our_node_refuses_to_dial_a_plaintext_only_peer(tmp_path):
    """Outbound: a peer that offers only /plaintext/2.0.0 gets no connection from us."""
    from milon_app.errors import MilonError
    from milon_app.p2p.host import Libp2pTransport
    from milon_app.store.blobs import BlobStore
    from tests.unit.p2p.rawpeer import RawPeer

    me = Libp2pTransport(os.urandom(32), BlobStore(tmp_path / "me"))
    me.start()
    raw = None
    try:
        raw = RawPeer(plaintext=True).start()
        with pytest.raises(MilonError):
            me.connect(raw.addr(), timeout_s=10)
        assert raw.peer_id not in me.peers()
    finally:
        if raw is not None:
            raw.stop()
        me.stop()
