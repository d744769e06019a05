"""What takes the space in a PyInstaller one-folder bundle: a du-style table.

    python3 installers/bundle_sizes.py build/dist/milon [--top 10]

Prints the total, the largest top-level parts (packages and libraries under
``_internal``) and the largest single files, each in MB and as a share of the
total, so the size goal (under 600 MB unpacked on Linux) can be tracked.
Standard library only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

MB = 1024 * 1024


def file_sizes(bundle: Path) -> dict[str, int]:
    """Bytes per regular file, keyed by its path inside the bundle (symlinks not counted)."""
    return {
        str(p.relative_to(bundle)): p.stat().st_size
        for p in bundle.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def part_of(rel: str) -> str:
    """The top-level part a file belongs to: ``torch``, ``PySide6``, ``libpython3.11.so``…"""
    parts = Path(rel).parts
    if parts[0] == "_internal" and len(parts) > 1:
        parts = parts[1:]
    return parts[0] + ("/" if len(parts) > 1 else "")


def table(rows: list[tuple[str, int]], total: int, title: str) -> list[str]:
    lines = [title, f"{'MB':>9} {'share':>6}  path"]
    lines += [f"{size / MB:9.1f} {size / total:6.1%}  {name}" for name, size in rows]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args()
    if not args.bundle.is_dir():
        print(f"bundle_sizes: {args.bundle} is not a folder", file=sys.stderr)
        return 3
    files = file_sizes(args.bundle)
    total = sum(files.values()) or 1
    parts: Counter[str] = Counter()
    for rel, size in files.items():
        parts[part_of(rel)] += size
    print(f"bundle {args.bundle}: {total / MB:.1f} MB in {len(files)} files")
    print("\n".join(table(parts.most_common(args.top), total, "largest parts:")))
    top_files = sorted(files.items(), key=lambda kv: -kv[1])[: args.top]
    print("\n".join(table(top_files, total, "largest files:")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
