#!/usr/bin/env bash
# Smoke-test what installers/build_linux.sh built: the one-folder bundle, the
# portable tarball (unpacked into a temp folder) and the .deb (installed into a
# throwaway root; add --system to install it on this machine and remove it again).
#
#   bash installers/smoke_test.sh [--system]
#
# Each run uses a throwaway HOME/MILON_HOME/XDG folders (see smoke_test.py) and
# writes build/dist/smoke-*.json. Takes a few minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST=build/dist
[ -x "$DIST/milon/milon" ] || { echo "smoke_test: build first: bash installers/build_linux.sh" >&2; exit 3; }

echo "==== bundle $DIST/milon"
python3 installers/smoke_test.py "$DIST/milon/milon" --json-out "$DIST/smoke-bundle.json"

TARBALL="$(ls "$DIST"/milon-*-linux-*.tar.gz | tail -1)"
echo "==== tarball $TARBALL"
UNPACK="$(mktemp -d /tmp/milon-tarball.XXXXXX)"
trap 'rm -rf "$UNPACK"' EXIT
tar -C "$UNPACK" -xzf "$TARBALL"
python3 installers/smoke_test.py "$UNPACK"/milon-*/milon --json-out "$DIST/smoke-tarball.json"

echo "==== .deb"
bash installers/linux/smoke_deb.sh "$@"
