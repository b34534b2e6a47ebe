#!/usr/bin/env bash
# Regenerates packages/proto/src/generated from proto/ with ts-proto. protoc comes from Debian's
# protobuf-compiler (installed by scripts/install-toolchain.sh when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then
  echo "proto: protoc not found; run: apt-get install -y protobuf-compiler" >&2
  exit 1
fi
out=packages/proto/src/generated
rm -rf "$out" && mkdir -p "$out"
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,forceLong=number,importSuffix=.js,useOptionals=none,oneof=unions-value,outputTypeRegistry=false \
  -I proto proto/wasmatrix/v1/*.proto
echo "proto: generated $(find "$out" -name '*.ts' | wc -l) files in $out"
