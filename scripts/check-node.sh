#!/usr/bin/env bash
# wasmatrix needs Node.js 20.6 or newer (package.json "engines"): worker threads with
# SharedArrayBuffer host calls, `import.meta` resolution and the test runner rely on it. npm only
# warns about "engines", and Debian 12's own nodejs package is 18, so this says it plainly first.
set -euo pipefail

REQUIRED_MAJOR=20
REQUIRED_MINOR=6

if ! command -v node >/dev/null 2>&1; then
  echo "check-node: Node.js is not installed; wasmatrix needs Node.js ${REQUIRED_MAJOR}.${REQUIRED_MINOR} or newer." >&2
  found=""
else
  found="$(node --version 2>/dev/null || true)"
  version="${found#v}"
  major="${version%%.*}"
  rest="${version#*.}"
  minor="${rest%%.*}"
  if [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] &&
    { [ "$major" -gt "$REQUIRED_MAJOR" ] || { [ "$major" -eq "$REQUIRED_MAJOR" ] && [ "$minor" -ge "$REQUIRED_MINOR" ]; }; }; then
    exit 0
  fi
  echo "check-node: this is Node.js ${found:-of unknown version}; wasmatrix needs ${REQUIRED_MAJOR}.${REQUIRED_MINOR} or newer." >&2
fi
cat >&2 <<'HELP'
check-node: Debian 12 ships Node.js 18. Install Node.js 20 (or 22), then run this again:
  - from NodeSource:  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs
  - or with nvm:      nvm install 20 && nvm use 20
HELP
exit 1
