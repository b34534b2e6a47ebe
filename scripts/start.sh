#!/usr/bin/env bash
# The main job: the embedded single-node cluster (control plane, one node agent, local providers
# in one process) on 127.0.0.1:7400, with the example `echo` reactor running. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node packages/cli/bin/wasmatrix.js up --example "$@"
