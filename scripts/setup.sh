#!/usr/bin/env bash
# Prepares a fresh machine: system packages (clang/lld/wasi-libc, wabt), npm dependencies, the
# example guests, the packages' built JavaScript (dist/, for use outside the checkout) and a
# `wasmatrix` command on PATH. Idempotent; quick when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-toolchain.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/build-examples.sh
echo "setup: building the packages (tsc -b, the CLI bundle)"
npm run --silent build
bash scripts/link-cli.sh
