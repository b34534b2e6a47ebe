#!/usr/bin/env bash
# Puts a `wasmatrix` command on PATH that runs this checkout's CLI (`npm link` of packages/cli):
# the banner's and the docs' `wasmatrix ps` then work as written, and `npx wasmatrix` anywhere
# finds this command instead of looking up a registry package of that name. The link runs the
# sources as they are, so an edit needs no new link. When npm's global prefix is not writable
# (Node from a distribution package, not root), the link goes to ~/.local instead.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "link-cli: $*"; }
here="$(pwd)/packages/cli/bin/wasmatrix.js"
link() { (cd packages/cli && npm link --no-audit --no-fund --loglevel=error >/dev/null 2>&1); }

prefix="$(npm prefix -g)"
if [ "$(readlink -f "$prefix/bin/wasmatrix" 2>/dev/null || true)" = "$here" ]; then
  : # already this checkout's
elif ! link; then
  prefix="${HOME}/.local"
  export npm_config_prefix="$prefix"
  if ! link; then
    log "could not link the wasmatrix command into $(npm prefix -g) or $prefix; run it as node $here" >&2
    exit 1
  fi
fi

found="$(command -v wasmatrix || true)"
if [ -z "$found" ] || [ "$(readlink -f "$found")" != "$here" ]; then
  log "linked $prefix/bin/wasmatrix, which is not first on PATH: export PATH=\"$prefix/bin:\$PATH\"" >&2
else
  log "wasmatrix ($found) runs this checkout"
fi
