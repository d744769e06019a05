"""Allow ``python -m milon_app``."""

from __future__ import annotations

from milon_app.cli.main import main

raise SystemExit(main())
