"""``auto`` means auto: CUDA (or ROCm, which torch reports as CUDA), then MPS, then the CPU.

The decision is tested without a GPU by telling torch what it would find; the
front-ends are tested to hand ``auto`` to the node untouched (they used to turn
it into ``cpu``, so a contributor's GPU sat idle unless configured by hand).
"""

from __future__ import annotations

import pytest
import torch
from eth_account import Account

from milon_app.compute import hardware
from milon_app.compute.hardware import select_device
from milon_app.config import Config

KEY = b"\x23" * 32  # THROWAWAY test key


def _pretend(monkeypatch: pytest.MonkeyPatch, *, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(hardware, "_mps_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "want"),
    [(True, False, "cuda:0"), (True, True, "cuda:0"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    _pretend(monkeypatch, cuda=cuda, mps=mps)
    assert str(select_device("auto")) == want


def test_config_default_is_auto():
    assert Config().compute.device == "auto"


@pytest.mark.parametrize(("setting", "want"), [("auto", "mps"), ("cpu", "cpu")])
def test_the_desktop_session_hands_the_setting_to_the_node(monkeypatch, tmp_path, setting, want):
    from milon_app.session.session import Session, SessionOptions

    _pretend(monkeypatch, cuda=False, mps=True)  # nothing trains: only the choice is checked
    cfg = Config()
    cfg.compute.device = setting
    s = Session(cfg, tmp_path, Account.from_key(KEY),
                SessionOptions(transport="inprocess", tick_s=0.05))
    try:
        s.start(lambda _msg, _f: None)
        assert s.core.device == want
    finally:
        s.stop()
