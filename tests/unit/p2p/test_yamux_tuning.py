"""Yamux window updates are batched once installed, unless the operator's env says otherwise."""

from __future__ import annotations

import libp2p.stream_muxer.yamux.yamux as yamux

from milon_app.p2p import yamux_tuning


def test_install_turns_release_on_read_off(monkeypatch) -> None:
    monkeypatch.delenv("PY_YAMUX_RELEASE_ON_READ", raising=False)
    monkeypatch.setattr(yamux_tuning, "_installed", False)
    monkeypatch.setattr(yamux, "_yamux_release_on_read", lambda: True)  # libp2p's default
    yamux_tuning.install()
    assert not yamux._yamux_release_on_read()


def test_an_explicit_env_setting_wins(monkeypatch) -> None:
    monkeypatch.setenv("PY_YAMUX_RELEASE_ON_READ", "1")
    monkeypatch.setattr(yamux_tuning, "_installed", False)
    def original() -> bool:
        return True

    monkeypatch.setattr(yamux, "_yamux_release_on_read", original)
    yamux_tuning.install()
    assert yamux._yamux_release_on_read is original
