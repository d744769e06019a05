from __future__ import annotations

import torch

from milon_app.federation.screening import outliers, screen_submissions
from milon_app.federation.types import ClientUpdate


def test_unchanged_and_duplicated_updates_are_rejected():
    out = screen_submissions({}, {"a": "g", "b": "x", "c": "x", "d": "y"}, "g")
    assert "no training" in out["a"]
    assert "copy shared by 2 members" in out["b"] and "copy" in out["c"]
    assert "d" not in out


def test_outliers_far_from_the_aggregate():
    agg = {"w": torch.zeros(4)}
    ups = [
        ClientUpdate(c, {"w": torch.full((4,), v)}, 1)
        for c, v in (("a", 0.1), ("b", -0.1), ("c", 0.12), ("d", 5.0))
    ]
    far = outliers(agg, ups)
    assert list(far) == ["d"]
    assert "over 5x the median distance" in far["d"]
    assert outliers(agg, ups[:3]) == {}  # too few to tell


def test_outliers_do_not_depend_on_order():
    agg = {"w": torch.zeros(3)}
    ups = [ClientUpdate(str(i), {"w": torch.full((3,), float(i))}, 1) for i in range(6)]
    assert outliers(agg, ups) == outliers(agg, list(reversed(ups)))
