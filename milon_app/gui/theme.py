"""Light and dark themes that follow the system's colour scheme.

Fusion with a palette of our own looks the same on every platform (the
native styles differ too much for screenshots and tests to agree), and
pyqtgraph is switched with it so charts are not white boxes in dark mode.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

DARK = {
    "window": "#1f2329", "base": "#262b33", "alt": "#2c323b", "text": "#e6e6e6",
    "button": "#2f353f", "highlight": "#3d7eff", "hint": "#9aa4b2", "plot": "#1b1f24",
}
LIGHT = {
    "window": "#f4f5f7", "base": "#ffffff", "alt": "#f0f2f5", "text": "#1d2330",
    "button": "#e9ecf1", "highlight": "#2f6fe4", "hint": "#5f6b7a", "plot": "#ffffff",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", lambda: Qt.ColorScheme.Unknown)()
    return bool(scheme == Qt.ColorScheme.Dark)


def colors(dark: bool | None = None) -> dict[str, str]:
    return DARK if (system_is_dark() if dark is None else dark) else LIGHT


def apply_theme(app: QApplication, dark: bool | None = None) -> dict[str, str]:
    c = colors(dark)
    app.setStyle("Fusion")
    pal = QPalette()
    role = QPalette.ColorRole
    pal.setColor(role.Window, QColor(c["window"]))
    pal.setColor(role.WindowText, QColor(c["text"]))
    pal.setColor(role.Base, QColor(c["base"]))
    pal.setColor(role.AlternateBase, QColor(c["alt"]))
    pal.setColor(role.Text, QColor(c["text"]))
    pal.setColor(role.Button, QColor(c["button"]))
    pal.setColor(role.ButtonText, QColor(c["text"]))
    pal.setColor(role.ToolTipBase, QColor(c["base"]))
    pal.setColor(role.ToolTipText, QColor(c["text"]))
    pal.setColor(role.Highlight, QColor(c["highlight"]))
    pal.setColor(role.HighlightedText, QColor("#ffffff"))
    pal.setColor(role.PlaceholderText, QColor(c["hint"]))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSize(max(font.pointSize(), 10))
    app.setFont(font)
    app.setStyleSheet(
        f"QLabel#hint {{ color: {c['hint']}; }}"
        "QGroupBox { font-weight: bold; margin-top: 10px; }"
        "QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }"
        "QTabBar::tab { padding: 6px 14px; }"
    )
    try:
        import pyqtgraph as pg

        # no antialiasing: it doubles the cost of a live chart's repaint (see docs/gui.md)
        pg.setConfigOptions(background=c["plot"], foreground=c["text"], antialias=False)
    except ImportError:  # pragma: no cover - pyqtgraph is a dependency
        pass
    return c
