#!/usr/bin/env bash
# Run the MILON node in the background for this user (macOS LaunchAgent).
#   bash install_launch_agent.sh            # install and start
#   bash install_launch_agent.sh --remove   # stop and remove
set -euo pipefail
PLIST="$HOME/Library/LaunchAgents/io.milon.daemon.plist"
if [ "${1:-}" = "--remove" ]; then
    launchctl bootout "gui/$(id -u)" "$PLIST" 2>/dev/null || true
    rm -f "$PLIST"
    echo "removed $PLIST"
    exit 0
fi
[ -x /Applications/MILON.app/Contents/MacOS/milon ] || { echo "install MILON.app in /Applications first" >&2; exit 8; }
mkdir -p "$HOME/Library/LaunchAgents" "$HOME/Library/Logs"
sed "s#@HOME@#$HOME#g" "$(dirname "$0")/io.milon.daemon.plist" > "$PLIST"
plutil -lint "$PLIST"
launchctl bootout "gui/$(id -u)" "$PLIST" 2>/dev/null || true
launchctl bootstrap "gui/$(id -u)" "$PLIST"
echo "started io.milon.daemon; log: ~/Library/Logs/milon-daemon.log; status: milon status"
