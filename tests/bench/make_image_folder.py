"""Synthetic 32x32 RGB image folders (``root/<class>/*.png``) whose classes are learnable.

Made here, never downloaded, for tests and the benchmark (a stand-in for a CIFAR-sized
image task). The scheme, per image of class ``k`` (``k`` in ``0..classes-1``):

- shape ``SHAPES[k % 5]`` (disk, ring, square, cross, triangle), its centre drawn
  within +-5 px of the middle and its radius from 7..12 px;
- colour family ``k // 5 % 2``: warm (hue drawn from -0.08..0.15, reds to yellows)
  or cool (0.42..0.68, greens to blues); saturation 0.6..1, value 0.7..1;
- background: any hue, saturation 0..0.35, value 0.1..0.5;
- then Gaussian pixel noise (sd ``noise``, 0.08 of full scale by default), clipped.

So no single pixel or colour names the class: a model must find the shape and the
colour family (10 classes = 5 shapes x 2 families), which a small CNN learns and a
linear model only partly does. Same seed, same bytes.

    python tests/bench/make_image_folder.py OUT [--classes 10] [--per-class 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import colorsys
from pathlib import Path

import numpy as np

SHAPES = ("disk", "ring", "square", "cross", "triangle")
SIZE = 32
WARM, COOL = (-0.08, 0.15), (0.42, 0.68)


def _mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    dist = np.hypot(dx, dy)
    if shape == "disk":
        return dist <= r
    if shape == "ring":
        return (dist <= r) & (dist >= 0.55 * r)
    if shape == "square":
        return (np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r)
    if shape == "cross":
        arm = r / 3
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
    # triangle, apex up: the half-width grows from 0 at the top to r at the base
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v))


def make_image(label: int, rng: np.random.Generator, noise: float = 0.08) -> np.ndarray:
    """One HxWx3 uint8 image of class ``label`` (see the module docstring)."""
    shape = SHAPES[label % len(SHAPES)]
    low, high = WARM if (label // len(SHAPES)) % 2 == 0 else COOL
    fg = _rgb(rng.uniform(low, high), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    bg = _rgb(rng.uniform(0, 1), rng.uniform(0, 0.35), rng.uniform(0.1, 0.5))
    cx, cy = SIZE / 2 + rng.uniform(-5, 5, size=2)
    mask = _mask(shape, cx, cy, rng.uniform(7, 12))
    img = np.where(mask[..., None], fg, bg) + rng.normal(0, noise, size=(SIZE, SIZE, 3))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def make_image_folder(
    root: Path, *, classes: int = 10, per_class: int = 100, seed: int = 0, noise: float = 0.08
) -> Path:
    """Write ``per_class`` PNGs for each of ``classes`` classes under ``root``; return it."""
    from PIL import Image

    if not 2 <= classes <= 10:
        raise ValueError(f"classes must be in 2..10 (5 shapes x 2 colour families), not {classes}")
    rng = np.random.default_rng(seed)
    for k in range(classes):
        folder = root / f"class{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(make_image(k, rng, noise)).save(folder / f"{i:05d}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to write (class subfolders are created)")
    p.add_argument("--classes", type=int, default=10, help="2..10 (default 10)")
    p.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.08, help="pixel noise sd (default 0.08)")
    a = p.parse_args(argv)
    make_image_folder(a.out, classes=a.classes, per_class=a.per_class, seed=a.seed, noise=a.noise)
    print(f"wrote {a.classes} x {a.per_class} images to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
