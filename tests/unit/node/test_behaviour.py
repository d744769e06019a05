from __future__ import annotations

import pytest
import torch

from milon_app.errors import BadInputError
from milon_app.node.behaviour import HONEST, Behaviour


def test_honest_changes_nothing():
    g = {"w": torch.zeros(2)}
    s = {"w": torch.ones(2)}
    assert HONEST.tamper(g, s) is s
    assert HONEST.commits and HONEST.trains and HONEST.honest


def test_signflip_reverses_and_scales_the_step():
    g = {"w": torch.zeros(2), "n": torch.tensor([3])}
    s = {"w": torch.ones(2), "n": torch.tensor([3])}
    out = Behaviour("signflip", scale=10).tamper(g, s)
    assert torch.equal(out["w"], torch.full((2,), -10.0))
    assert torch.equal(out["n"], s["n"])  # integer buffers untouched


def test_noise_is_seeded_and_labels_flip():
    s = {"w": torch.zeros(100)}
    a = Behaviour("noise", seed=1).tamper(s, s)["w"]
    b = Behaviour("noise", seed=1).tamper(s, s)["w"]
    assert torch.equal(a, b) and a.abs().mean() > 1
    assert Behaviour("labelflip").labels(torch.tensor([0, 9]), 10).tolist() == [9, 0]
    assert not Behaviour("noshow").commits and not Behaviour("lazy").trains


def test_unknown_attack():
    with pytest.raises(BadInputError, match="unknown attack"):
        Behaviour("bribe")
