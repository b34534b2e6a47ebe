#!/usr/bin/env bash
# The main job: the embedded single-node cluster (control plane, one node agent, local providers
# in one process) on 127.0.0.1:7400, with the example `echo` reactor running. Ctrl-C or SIGTERM
# stops it. `exec` here and in package.json's `start` (npm runs scripts through `sh -c`, and
# forwards SIGTERM only to that shell, which does not pass it on) leave node as npm's own child.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check-node.sh
exec node packages/cli/bin/wasmatrix.js up --example "$@"
