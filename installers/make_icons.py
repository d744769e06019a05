"""Render resources/milon.svg into the icons the installers need.

Writes resources/icons/hicolor/<n>x<n>/apps/milon.png (the freedesktop theme
layout the .deb installs), resources/milon.png (256 px, what PyInstaller and
the desktop entry use), resources/milon.ico (Windows: 16-256 px in one file)
and resources/milon.icns (macOS). Qt's SVG renderer draws the source, Pillow
writes ICO and ICNS, so no ImageMagick or Apple tools are needed. Run it with
the project venv (PySide6 and Pillow) after editing the SVG:

    QT_QPA_PLATFORM=offscreen .venv/bin/python installers/make_icons.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "resources"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(svg: Path, size: int) -> bytes:
    """PNG bytes of ``svg`` drawn at ``size`` x ``size`` with a transparent background."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["make_icons"])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data.data())


def main() -> int:
    from PIL import Image

    svg = RES / "milon.svg"
    pngs = {n: render(svg, n) for n in SIZES}
    for n, data in pngs.items():
        out = RES / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "milon.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    (RES / "milon.png").write_bytes(pngs[256])
    big = Image.open(io.BytesIO(pngs[512])).convert("RGBA")
    big.save(RES / "milon.ico", sizes=[(n, n) for n in ICO_SIZES])
    big.save(RES / "milon.icns")
    print(f"wrote {len(SIZES)} PNG sizes, milon.png, milon.ico, milon.icns under {RES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
