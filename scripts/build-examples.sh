#!/usr/bin/env bash
# Builds every example guest into examples/build/*.wasm, make-style: a module is rebuilt only
# when it is missing or older than one of its sources (or this script, whose flags it embeds).
# Each rebuilt module is then checked against the guest ABI by examples/tools/check-modules.mjs.
#
#   examples/c/<name>.c              → <name>.wasm      (a reactor if it defines WASMATRIX_REACTOR)
#   examples/wat/<name>.wat          → <name>.wasm, or <name>_wat.wasm when a C example has the name
#   examples/assemblyscript/         → as_reactor.wasm
#   examples/extism/<name>.c         → extism_<name>.wasm (an Extism plugin, freestanding C)
#   examples/extism/as/plugin.ts     → extism_as_plugin.wasm (an Extism plugin on @extism/as-pdk)
#
# Tools: clang + wasm-ld + wasi-libc + wasm32 builtins (scripts/install-toolchain.sh), wat2wasm
# from Debian's wabt or else the npm wabt package, asc from node_modules (npm ci).
# FORCE=1 rebuilds everything; WASI_SYSROOT overrides the wasi-libc sysroot (default /usr).
set -euo pipefail
here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/.."

EXAMPLES=examples
OUT=$EXAMPLES/build
SCRIPT=scripts/build-examples.sh
# Debian's wasi-libc installs headers in /usr/include/wasm32-wasi and libraries in
# /usr/lib/wasm32-wasi: clang finds both from --sysroot=/usr with the target triple appended.
SYSROOT=${WASI_SYSROOT:-/usr}

# Forks cost ~15 ms each on small VMs, so the up-to-date path uses only shell builtins.
[ -d "$OUT" ] || mkdir -p "$OUT"
built=()     # EXPECT:path arguments for the checker, one per rebuilt module
skipped=0

log() { echo "build-examples: $*"; }
die() { echo "build-examples: $*" >&2; exit 1; }

# True when $1 is missing or older than any of the remaining arguments.
stale() {
  local target=$1 dep
  shift
  [ "${FORCE:-0}" = 1 ] && return 0
  [ -e "$target" ] || return 0
  for dep in "$@"; do
    [ "$dep" -nt "$target" ] && return 0
  done
  return 1
}

# Tools are probed only when something needs rebuilding, so an up-to-date tree builds (and its
# tests run) on a machine without the toolchain.
c_ready=0
need_c_toolchain() {
  [ $c_ready = 1 ] && return
  local missing=()
  command -v clang >/dev/null 2>&1 || missing+=("clang (apt: clang)")
  command -v wasm-ld >/dev/null 2>&1 || missing+=("wasm-ld (apt: lld)")
  [ -f "$SYSROOT/include/wasm32-wasi/stdio.h" ] || [ -f "$SYSROOT/include/stdio.h" ] ||
    missing+=("the wasi-libc sysroot at $SYSROOT (apt: wasi-libc)")
  compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null ||
    [ -n "${WASI_SYSROOT:-}" ] || missing+=("libclang_rt.builtins-wasm32.a (apt: libclang-rt-14-dev-wasm32)")
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'build-examples: cannot build C examples; missing:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    die "run: bash scripts/install-toolchain.sh"
  fi
  c_ready=1
}

# Debian's wat2wasm, found on PATH without node_modules/.bin: under `npm run` that folder comes
# first and holds the npm package's wat2wasm wrapper, which we only want as the fallback.
WAT2WASM=""
need_wat2wasm() {
  [ -n "$WAT2WASM" ] && return
  local path_without_npm
  path_without_npm=$(tr ':' '\n' <<<"$PATH" | grep -v 'node_modules/\.bin' | paste -sd: -)
  WAT2WASM=$(PATH=$path_without_npm command -v wat2wasm || true)
  if [ -z "$WAT2WASM" ]; then
    [ -f node_modules/wabt/package.json ] ||
      die "cannot build WAT examples: no wat2wasm (apt: wabt) and no npm wabt package (run: npm ci)"
    WAT2WASM=npm
    log "wat2wasm not installed; using the npm wabt package"
  fi
}

c_flags=(--target=wasm32-wasi "--sysroot=$SYSROOT" -O2 -Wall -Wextra -I"$EXAMPLES/include"
  # Drops the DWARF that wasi-libc's archive carries (160 KiB → 35 KiB for a reactor) but keeps
  # the name section, so trap stack traces still name functions.
  -Wl,--strip-debug)

for src in "$EXAMPLES"/c/*.c; do
  name=${src##*/}
  name=${name%.c}
  out=$OUT/$name.wasm
  if stale "$out" "$src" "$EXAMPLES/include/wasmatrix.h" "$SCRIPT"; then
    need_c_toolchain
    # A reactor is whatever opts into the header's __guest_call; there is no list to keep in sync.
    if grep -q '^#define WASMATRIX_REACTOR' "$src"; then kind=c-reactor; else kind=command; fi
    log "clang $src → $out ($kind)"
    extra=()
    # -mexec-model=reactor links crt1-reactor.o: `_initialize` (runs constructors) instead of
    # `_start`. __guest_call is exported by the header's export_name attribute.
    [ $kind = c-reactor ] && extra=(-mexec-model=reactor)
    clang "${c_flags[@]}" "${extra[@]}" -o "$out.tmp" "$src"
    mv "$out.tmp" "$out"
    built+=("$kind:$out")
  else
    skipped=$((skipped + 1))
  fi
done

# Extism plugins: no libc (they run unchanged under @extism/extism too, which the benchmark needs
# without WASI), the PDK imports hand-written in examples/extism/extism.h.
for src in "$EXAMPLES"/extism/*.c; do
  name=${src##*/}
  name=extism_${name%.c}
  out=$OUT/$name.wasm
  if stale "$out" "$src" "$EXAMPLES/extism/extism.h" "$SCRIPT"; then
    need_c_toolchain
    log "clang $src → $out (extism)"
    clang --target=wasm32 -nostdlib -fno-builtin -O2 -Wall -Wextra -I"$EXAMPLES/extism" \
      -Wl,--no-entry -Wl,--strip-debug -o "$out.tmp" "$src"
    mv "$out.tmp" "$out"
    built+=("extism:$out")
  else
    skipped=$((skipped + 1))
  fi
done

for src in "$EXAMPLES"/wat/*.wat; do
  name=${src##*/}
  name=${name%.wat}
  [ -e "$EXAMPLES/c/$name.c" ] && name=${name}_wat
  out=$OUT/$name.wasm
  if stale "$out" "$src" "$SCRIPT"; then
    need_wat2wasm
    log "wat2wasm $src → $out"
    if [ "$WAT2WASM" = npm ]; then
      node "$EXAMPLES/tools/wat2wasm.mjs" "$src" -o "$out.tmp"
    else
      # --debug-names keeps $names in the name section: trap messages then say `$deeper`.
      "$WAT2WASM" --debug-names "$src" -o "$out.tmp"
    fi
    mv "$out.tmp" "$out"
    built+=("$out")
  else
    skipped=$((skipped + 1))
  fi
done

AS_DIR=$EXAMPLES/assemblyscript
out=$OUT/as_reactor.wasm
if stale "$out" "$AS_DIR"/assembly/*.ts "$AS_DIR/asconfig.json" "$SCRIPT"; then
  [ -x node_modules/.bin/asc ] || die "cannot build AssemblyScript examples: no asc (run: npm ci)"
  log "asc $AS_DIR → $out"
  # Flags live in asconfig.json: the incremental runtime (stub never frees, which a resident
  # reactor would turn into a leak per invocation; minimal needs the host to call __collect
  # between invocations, which waPC hosts do not), -O3, and the start function exported as
  # `_initialize` so handler registration runs under the host's limits like a C reactor's.
  node_modules/.bin/asc --config "$AS_DIR/asconfig.json" --target release -o "$out.tmp"
  mv "$out.tmp" "$out"
  built+=("as-reactor:$out")
else
  skipped=$((skipped + 1))
fi

# An Extism plugin on the published AssemblyScript PDK (npm @extism/as-pdk), its abort redirected
# so that it imports only extism:host/env.
out=$OUT/extism_as_plugin.wasm
if stale "$out" "$EXAMPLES/extism/as/plugin.ts" "$SCRIPT"; then
  [ -x node_modules/.bin/asc ] || die "cannot build AssemblyScript examples: no asc (run: npm ci)"
  [ -f node_modules/@extism/as-pdk/package.json ] || die "cannot build the AssemblyScript Extism plugin: no @extism/as-pdk (run: npm ci)"
  log "asc $EXAMPLES/extism/as/plugin.ts → $out (extism)"
  node_modules/.bin/asc "$EXAMPLES/extism/as/plugin.ts" -o "$out.tmp" --runtime incremental -O3 \
    --use abort="$EXAMPLES/extism/as/plugin/pluginAbort"
  mv "$out.tmp" "$out"
  built+=("extism:$out")
else
  skipped=$((skipped + 1))
fi

if [ ${#built[@]} -eq 0 ]; then
  log "up to date ($skipped modules in $OUT)"
  exit 0
fi
log "checking ${#built[@]} rebuilt module(s) against the guest ABI"
node "$EXAMPLES/tools/check-modules.mjs" "${built[@]}"
log "built ${#built[@]}, up to date $skipped"
