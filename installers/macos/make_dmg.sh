#!/usr/bin/env bash
# Build MILON.app with installers/milon.spec and pack it into a .dmg (macOS only).
#
#   bash installers/macos/make_dmg.sh
#
# Same steps as build_linux.sh: a separate venv (build/pyi-venv) with torch
# 2.13.0 first, the pinned build requirements, then the project. The .dmg holds
# MILON.app, a link to /Applications (drag to install) and the LaunchAgent
# files for the background node. Signing/notarization are not done here:
# set CODESIGN_IDENTITY to sign the app (ad-hoc "-" by default).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ "$(uname -s)" = Darwin ] || { echo "make_dmg: run this on macOS (hdiutil, codesign)" >&2; exit 3; }
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' milon_app/__init__.py)"
VENV=build/pyi-venv
if [ ! -x "$VENV/bin/pyinstaller" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.13.0
    "$VENV/bin/pip" install -q -r installers/macos/requirements-build.txt
    "$VENV/bin/pip" install -q .
fi
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath build/dist --workpath build/pyi-work installers/milon.spec
APP=build/dist/MILON.app
codesign --force --deep --sign "${CODESIGN_IDENTITY:--}" "$APP"
"$APP/Contents/MacOS/milon" --version
STAGE=build/dmg && rm -rf "$STAGE" && mkdir -p "$STAGE/Background node"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
cp installers/macos/io.milon.daemon.plist installers/macos/install_launch_agent.sh "$STAGE/Background node/"
DMG="build/dist/milon-$VERSION-macos-$(uname -m).dmg"
rm -f "$DMG"
hdiutil create -volname "MILON $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
du -sh "$APP" "$DMG"
