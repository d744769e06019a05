#!/usr/bin/env bash
# Prove installers/windows/milon.nsi is valid: compile it with Debian's makensis
# against a placeholder payload (the real payload is a PyInstaller build made
# on Windows; PyInstaller does not cross-build). The .exe it makes is a real
# NSIS installer of the placeholder files, written to a temp folder and deleted.
#
#   apt-get install -y nsis && bash installers/windows/compile_check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v makensis >/dev/null || { echo "compile_check: makensis not found (apt-get install -y nsis)" >&2; exit 3; }
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/milon_app/__init__.py")"
WORK="$(mktemp -d /tmp/milon-nsis.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PAYLOAD="$WORK/payload"
mkdir -p "$PAYLOAD/_internal/milon_app/chain/artifacts"
for exe in milon.exe milon-gui.exe; do echo "placeholder for $exe (built on Windows)" > "$PAYLOAD/$exe"; done
cp "$ROOT"/milon_app/chain/artifacts/*.json "$PAYLOAD/_internal/milon_app/chain/artifacts/"
OUT="$WORK/milon-$VERSION-windows-x64-setup.exe"
makensis -V2 -WX -DVERSION="$VERSION" -DPAYLOAD="$PAYLOAD" -DOUTFILE="$OUT" "$ROOT/installers/windows/milon.nsi"
[ -s "$OUT" ] || { echo "compile_check: makensis wrote no installer" >&2; exit 1; }
echo "compiled: $(file -b "$OUT" | cut -c1-60), $(du -k "$OUT" | cut -f1) KB (placeholder payload)"
