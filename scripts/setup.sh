#!/usr/bin/env bash
# Prepares a fresh machine: checks Node.js (20.6+), installs system packages (clang/lld/wasi-libc
# and wabt, which build the example guests; nats-server, etcd and protoc, which only the tests and
# `npm run proto` use), npm dependencies, builds the example guests, the packages' JavaScript
# (dist/, for use outside the checkout) and puts a `wasmatrix` command on PATH. Idempotent; quick
# when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# First, before anything is installed: everything after needs Node.js 20.6+.
bash scripts/check-node.sh
bash scripts/install-toolchain.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/build-examples.sh
echo "setup: building the packages (tsc -b, the CLI bundle)"
npm run --silent build
bash scripts/link-cli.sh
