#!/usr/bin/env bash
# Build the Linux one-folder bundle, the portable tarball and the .deb.
#
#   bash installers/build_linux.sh            # build into build/dist/
#   bash installers/smoke_test.sh             # then smoke-test the bundle and the .deb
#
# Build tools live in their own venv (build/pyi-venv), made on first use:
# torch==2.13.0 (the CPU wheel) first, then installers/linux/requirements-build.txt
# (pinned PyInstaller), then the project's own dependencies. Prints the build time,
# the sizes (unpacked, tarball, .deb) and the largest parts of the bundle.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="build/pyi-venv"
DIST="build/dist"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' milon_app/__init__.py)"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
[ -n "$VERSION" ] || { echo "build_linux: no __version__ in milon_app/__init__.py" >&2; exit 3; }
for tool in strip dpkg-deb tar; do
    command -v "$tool" >/dev/null || { echo "build_linux: $tool not found (apt-get install binutils dpkg tar)" >&2; exit 3; }
done

t_start=$(date +%s)
stamp="$VENV/.milon-build-stamp"
want="$(cat installers/linux/requirements-build.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/pyinstaller" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== build venv $VENV"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.13.0   # the CPU wheel; an unpinned torch pulls CUDA
    "$VENV/bin/pip" install -q -r installers/linux/requirements-build.txt
    "$VENV/bin/pip" install -q .
    echo "$want" > "$stamp"
fi

echo "== PyInstaller (installers/milon.spec)"
t_pyi=$(date +%s)
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath build/pyi-work installers/milon.spec
t_pyi=$(( $(date +%s) - t_pyi ))
BUNDLE="$DIST/milon"
[ -x "$BUNDLE/milon" ] || { echo "build_linux: $BUNDLE/milon was not built" >&2; exit 1; }

echo "== portable tarball"
NAME="milon-$VERSION-linux-$(uname -m)"
STAGE="build/stage/$NAME"
rm -rf build/stage && mkdir -p "$STAGE"
cp -a "$BUNDLE/." "$STAGE/"
cp installers/linux/milon-daemon.service resources/milon.desktop "$STAGE/"
cp installers/linux/PORTABLE.txt "$STAGE/README.txt"
cp LICENSE "$STAGE/"
tar -C build/stage -czf "$DIST/$NAME.tar.gz" "$NAME"

echo "== .deb"
DEB_ROOT="build/deb/milon_${VERSION}_$ARCH"
rm -rf build/deb && mkdir -p "$DEB_ROOT/DEBIAN" "$DEB_ROOT/usr/lib" "$DEB_ROOT/usr/bin"
cp -a "$BUNDLE" "$DEB_ROOT/usr/lib/milon"
ln -s ../lib/milon/milon "$DEB_ROOT/usr/bin/milon"   # relative: works from dpkg -x too
install -Dm644 resources/milon.desktop "$DEB_ROOT/usr/share/applications/milon.desktop"
for dir in resources/icons/hicolor/*/apps; do
    install -Dm644 "$dir/milon.png" "$DEB_ROOT/usr/share/${dir#resources/}/milon.png"
done
install -Dm644 installers/linux/milon-daemon.service \
    "$DEB_ROOT/usr/lib/systemd/user/milon-daemon.service"
install -Dm644 LICENSE "$DEB_ROOT/usr/share/doc/milon/copyright"
SIZE_KB="$(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" \
    installers/linux/control.in > "$DEB_ROOT/DEBIAN/control"
DEB="$DIST/milon_${VERSION}_$ARCH.deb"
dpkg-deb --root-owner-group -Zxz -z3 --build "$DEB_ROOT" "$DEB" >/dev/null

t_total=$(( $(date +%s) - t_start ))
echo
echo "== result"
printf '%-34s %s\n' "PyInstaller step" "${t_pyi} s" "whole build" "${t_total} s" \
    "bundle (unpacked)" "$(du -sh "$BUNDLE" | cut -f1)  $BUNDLE" \
    "portable tarball" "$(du -sh "$DIST/$NAME.tar.gz" | cut -f1)  $DIST/$NAME.tar.gz" \
    ".deb" "$(du -sh "$DEB" | cut -f1)  $DEB (installed: $((SIZE_KB / 1024)) MB)"
echo
"$PY" installers/bundle_sizes.py "$BUNDLE" --top 10
