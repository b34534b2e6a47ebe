/**
 * The wasmatrix guest ABI for AssemblyScript: waPC imports, a handler table, host calls.
 *
 * Register handlers at top level (the module's start, run by the host through `_initialize`)
 * and re-export `__guest_call` from the entry file, which is the only file whose exports become
 * the module's exports:
 *
 *   import { handle, Result } from "./wasmatrix";
 *   export { __guest_call } from "./wasmatrix";
 *   handle("echo", (payload: Uint8Array): Result => Result.ok(payload));
 *
 * AssemblyScript has no exceptions (`throw` aborts the instance), so handlers return a Result
 * and host calls return a HostResult instead of throwing.
 */

// ---- waPC imports. Lengths are bytes; strings cross as UTF-8 without a terminator.

@external("wapc", "__guest_request")
declare function guestRequest(opPtr: usize, payloadPtr: usize): void;
@external("wapc", "__guest_response")
declare function guestResponse(ptr: usize, len: usize): void;
@external("wapc", "__guest_error")
declare function guestError(ptr: usize, len: usize): void;
@external("wapc", "__host_call")
declare function hostCallRaw(
  bindingPtr: usize, bindingLen: usize,
  namespacePtr: usize, namespaceLen: usize,
  operationPtr: usize, operationLen: usize,
  payloadPtr: usize, payloadLen: usize,
): i32;
@external("wapc", "__host_response_len")
declare function hostResponseLen(): usize;
@external("wapc", "__host_response")
declare function hostResponse(ptr: usize): void;
@external("wapc", "__host_error_len")
declare function hostErrorLen(): usize;
@external("wapc", "__host_error")
declare function hostError(ptr: usize): void;
@external("wapc", "__console_log")
declare function consoleLogRaw(ptr: usize, len: usize): void;

export const KEYVALUE = "wasmatrix:keyvalue";
export const HTTP = "wasmatrix:http";
export const MESSAGING = "wasmatrix:messaging";
export const LOGGING = "wasmatrix:logging";
/** The binding to use when an instance has one assignment per capability. */
export const DEFAULT_BINDING = "default";

// ---- Invocations.

/** A handler's answer: response bytes, or an error message the caller of Invoke sees. */
export class Result {
  private constructor(readonly ok: bool, readonly data: Uint8Array, readonly error: string) {}

  static ok(data: Uint8Array): Result {
    return new Result(true, data, "");
  }

  static text(text: string): Result {
    return new Result(true, utf8(text), "");
  }

  static error(message: string): Result {
    return new Result(false, new Uint8Array(0), message);
  }
}

export type Handler = (payload: Uint8Array) => Result;

const handlers = new Map<string, Handler>();

export function handle(operation: string, handler: Handler): void {
  handlers.set(operation, handler);
}

/** The waPC entry point: 1 when the operation answered, 0 when it failed with a guest error. */
export function __guest_call(operationLen: usize, payloadLen: usize): i32 {
  const operationBytes = new Uint8Array(<i32>operationLen);
  const payload = new Uint8Array(<i32>payloadLen);
  guestRequest(operationBytes.dataStart, payload.dataStart);
  const operation = String.UTF8.decodeUnsafe(operationBytes.dataStart, operationLen);
  // Map.get traps on a missing key; an unknown operation is the caller's mistake, not a crash.
  if (!handlers.has(operation)) return fail(`unknown operation '${operation}'`);
  const result = handlers.get(operation)(payload);
  if (!result.ok) return fail(result.error);
  guestResponse(result.data.dataStart, result.data.byteLength);
  return 1;
}

function fail(message: string): i32 {
  const bytes = utf8(message);
  guestError(bytes.dataStart, bytes.byteLength);
  return 0;
}

// ---- Host calls.

/** A host call's answer: the response bytes, or (ok = false) the host's error JSON. */
export class HostResult {
  constructor(readonly ok: bool, readonly data: Uint8Array) {}

  /** The response, or the error JSON {"code":"...","message":"..."}, as text. */
  get text(): string {
    return String.UTF8.decodeUnsafe(this.data.dataStart, this.data.byteLength);
  }
}

export function hostCall(binding: string, namespace: string, operation: string, payload: Uint8Array): HostResult {
  const b = utf8(binding);
  const n = utf8(namespace);
  const o = utf8(operation);
  const ok = hostCallRaw(
    b.dataStart, b.byteLength,
    n.dataStart, n.byteLength,
    o.dataStart, o.byteLength,
    payload.dataStart, payload.byteLength,
  );
  const data = new Uint8Array(<i32>(ok ? hostResponseLen() : hostErrorLen()));
  if (data.byteLength > 0) {
    if (ok) hostResponse(data.dataStart);
    else hostError(data.dataStart);
  }
  return new HostResult(ok != 0, data);
}

/** Logs through the logging capability at `level` (trace|debug|info|warn|error|fatal). */
export function log(level: string, message: string): HostResult {
  return hostCall(DEFAULT_BINDING, LOGGING, level, utf8(message));
}

/** A line in the instance's log without going through a capability. */
export function consoleLog(message: string): void {
  const bytes = utf8(message);
  consoleLogRaw(bytes.dataStart, bytes.byteLength);
}

/** Adds `by` to the number at `key` (missing counts as 0); the response is the new value as text. */
export function kvIncrement(key: string, by: i64 = 1): HostResult {
  return hostCall(DEFAULT_BINDING, KEYVALUE, "increment", utf8(`{"key":${jsonString(key)},"by":${by}}`));
}

export function kvGet(key: string): HostResult {
  return hostCall(DEFAULT_BINDING, KEYVALUE, "get", utf8(`{"key":${jsonString(key)}}`));
}

export function kvSet(key: string, value: string): HostResult {
  return hostCall(DEFAULT_BINDING, KEYVALUE, "set", utf8(`{"key":${jsonString(key)},"value":${jsonString(value)}}`));
}

// ---- Encoding.

export function utf8(text: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(text));
}

/** `text` as a quoted JSON string literal. */
export function jsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c < 0x20) out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}
