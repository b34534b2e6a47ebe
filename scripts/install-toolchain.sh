#!/usr/bin/env bash
# Installs the system toolchain that example guests need (Debian 12):
#   clang + lld + wasi-libc + libclang-rt-14-dev-wasm32  → C guests for wasm32-wasi
#   wabt                                                  → wat2wasm for WAT guests, wasm-objdump
#   nats-server                                           → messaging and JetStream keyvalue tests
#   etcd-server + etcd-client                             → etcd cluster tests (etcd 3.4, etcdctl)
#   protobuf-compiler                                     → protoc, for `npm run proto` (ts-proto)
#   docker-registry                                       → a real OCI registry for push/pull tests
#   prometheus                                            → the metrics test scrapes a daemon with it
# Idempotent: each need is probed by the command or file it provides, and apt runs only when one
# is missing, so a machine that already has everything spends a few milliseconds here.
set -euo pipefail

log() { echo "install-toolchain: $*"; }

# The compiler-rt builtins for wasm32 live under clang's resource dir, whose version is part of
# the path; probing by glob keeps this working across clang point releases.
have_builtins() {
  compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null
}
# Debian's wasi-libc puts the sysroot's headers in /usr/include/wasm32-wasi and its libraries in
# /usr/lib/wasm32-wasi, which is why the examples build with --sysroot=/usr.
have_sysroot() {
  [ -f /usr/include/wasm32-wasi/stdio.h ] && [ -f /usr/lib/wasm32-wasi/libc.a ]
}

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v wasm-ld >/dev/null 2>&1 || missing+=(lld)
have_sysroot || missing+=(wasi-libc)
have_builtins || missing+=(libclang-rt-14-dev-wasm32)
command -v wat2wasm >/dev/null 2>&1 || missing+=(wabt)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
{ command -v etcd && command -v etcdctl; } >/dev/null 2>&1 || missing+=(etcd-server etcd-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  log "toolchain present (clang, wasm-ld, wasi-libc, wasm32 builtins, wat2wasm, nats-server, etcd, protoc, docker-registry, prometheus)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "missing: ${missing[*]}, and apt-get is not available; install them by hand" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "missing: ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when apt cannot see a candidate for one of the packages: a fresh
# image has empty lists, a warm one does not need the round trip.
for pkg in "${missing[@]}"; do
  # Captured first: with pipefail, `grep -q` closing the pipe early would fail the probe.
  policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
  if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
    log "updating apt package lists"
    "${SUDO[@]}" apt-get update -qq
    break
  fi
done

log "installing ${missing[*]}"
# debconf's "delaying package configuration" notice on stderr is noise on a minimal image.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2> >(grep -v '^debconf: ' >&2)

# Debian installs lld's driver as wasm-ld-14 plus a wasm-ld alternative; if the unversioned name
# did not appear, clang would fail at link time with a confusing message, so say it here.
command -v wasm-ld >/dev/null 2>&1 || log "warning: wasm-ld not on PATH after installing lld" >&2
have_sysroot || { log "wasi-libc sysroot not found under /usr after install" >&2; exit 1; }
have_builtins || { log "libclang_rt.builtins-wasm32.a not found after install" >&2; exit 1; }
log "toolchain ready"
