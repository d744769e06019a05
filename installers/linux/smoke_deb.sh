#!/usr/bin/env bash
# Install the .deb, smoke-test the installed /usr/bin/milon, uninstall.
#
#   bash installers/linux/smoke_deb.sh [build/dist/milon_X_amd64.deb] [--system]
#
# Default: a real `dpkg -i` into a throwaway root (dpkg --root; the root's
# dpkg database starts empty, so dependencies are checked against this
# machine with dpkg-query instead), the smoke test on ROOT/usr/bin/milon, the
# unit checked with systemd-analyze, then `dpkg --root -r` must leave no
# file behind. --system installs on this machine (root needed) and removes it
# again with `dpkg -r`, also when a check fails.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEB="" SYSTEM=0
for arg in "$@"; do
    case "$arg" in
        --system) SYSTEM=1 ;;
        *) DEB="$arg" ;;
    esac
done
[ -n "$DEB" ] || DEB="$(ls "$ROOT_DIR"/build/dist/milon_*.deb 2>/dev/null | tail -1)"
[ -f "$DEB" ] || { echo "smoke_deb: no .deb (build it with installers/build_linux.sh)" >&2; exit 3; }
echo "== $DEB"
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p'

missing=""
for dep in $(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g'); do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "ok installed" || missing="$missing $dep"
done
[ -z "$missing" ] && echo "dependencies: all installed on this machine" \
    || echo "dependencies missing on this machine:$missing"

if [ "$SYSTEM" = 1 ]; then
    [ -z "$missing" ] || { echo "smoke_deb: install the missing packages first" >&2; exit 1; }
    dpkg -s milon >/dev/null 2>&1 && { echo "smoke_deb: milon is already installed here" >&2; exit 1; }
    trap 'dpkg -r milon >/dev/null && echo "removed (dpkg -r milon)"' EXIT
    dpkg -i "$DEB"
    PREFIX=""
else
    PREFIX="$(mktemp -d /tmp/milon-deb-root.XXXXXX)"
    trap 'rm -rf "$PREFIX"' EXIT
    mkdir -p "$PREFIX/var/lib/dpkg/info" "$PREFIX/var/lib/dpkg/updates"
    touch "$PREFIX/var/lib/dpkg/status"
    dpkg --root="$PREFIX" --log=/dev/null --force-depends --force-script-chrootless -i "$DEB"
fi

MILON="$PREFIX/usr/bin/milon"
UNIT="$PREFIX/usr/lib/systemd/user/milon-daemon.service"
DESKTOP="$PREFIX/usr/share/applications/milon.desktop"
for f in "$MILON" "$UNIT" "$DESKTOP" "$PREFIX/usr/share/icons/hicolor/256x256/apps/milon.png"; do
    [ -e "$f" ] || { echo "smoke_deb: $f not installed" >&2; exit 1; }
done
if command -v systemd-analyze >/dev/null; then
    # the unit names /usr/bin/milon: verify it where that path is the installed one
    if [ -z "$PREFIX" ]; then systemd-analyze verify "$UNIT" && echo "systemd-analyze verify: ok"
    else echo "systemd-analyze verify: run with --system (the unit names /usr/bin/milon)"; fi
fi
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$DESKTOP"; fi

python3 "$ROOT_DIR/installers/smoke_test.py" "$MILON" \
    --json-out "$ROOT_DIR/build/dist/smoke-deb$([ "$SYSTEM" = 1 ] && echo -system).json"

if [ -z "$PREFIX" ]; then :; else
    dpkg --root="$PREFIX" --log=/dev/null --force-script-chrootless -r milon
    left="$(find "$PREFIX" -path "$PREFIX/var" -prune -o -type f -print | head -5)"
    [ -z "$left" ] || { echo "smoke_deb: files left after dpkg -r: $left" >&2; exit 1; }
    echo "dpkg -r: no files left behind"
fi
