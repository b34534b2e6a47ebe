import { ErrorCode } from "@wasmatrix/core";
import { ExtismKernel } from "./extism-kernel.js";
import type { HostCallAnswer, HostCallRequest } from "./wapc.js";

/**
 * The host side of Extism plugins (https://extism.org): the `extism:host/env` import module that
 * every Extism PDK links against — input and output, the kernel's memory, config, vars, errors,
 * logging and `http_request` — as Extism's runtime (extism/extism, runtime/src/pdk.rs and the
 * kernel) and its JS SDK (@extism/extism) define it. A call runs one exported function (no
 * parameters, an i32 result: 0 is success).
 */
export const EXTISM_MODULE = "extism:host/env";

/** Extism's default cap on the bytes all of a plugin's vars hold (`max_var_bytes`). */
export const DEFAULT_MAX_VAR_BYTES = 1024 * 1024;

export type ExtismLogLevel = "trace" | "debug" | "info" | "warn" | "error";

export interface ExtismConfig {
  /** Read by `config_get`; fixed for the instance's life. */
  config: Record<string, string>;
  /** Cap on the bytes of all vars together. Default `DEFAULT_MAX_VAR_BYTES`. */
  maxVarBytes?: number;
}

export interface ExtismOptions extends ExtismConfig {
  /** Cap on the kernel's memory (the blocks of `alloc`), in bytes. */
  maxKernelBytes: number;
  /** Cap on an output, an error message and an HTTP request body. */
  maxPayloadBytes: number;
  hostCall(request: HostCallRequest): HostCallAnswer;
  log(level: ExtismLogLevel, message: string): void;
}

/**
 * A refusal that ends the current call with an error but leaves the plugin usable, as Extism's
 * host functions do when they return an error (a denied `http_request`, a var over its cap).
 */
export class ExtismCallError extends Error {
  override name = "ExtismCallError";
}

export type ExtismResult = { ok: true; response: Uint8Array } | { ok: false; guestError: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const NONE = 0n;

/** A u64 offset from the plugin as a JS number; anything past 2^53 is no block of ours. */
function offsetOf(value: bigint): number {
  const n = BigInt.asUintN(64, value);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

export class ExtismHost {
  readonly kernel: ExtismKernel;
  private readonly vars = new Map<string, Uint8Array>();
  private varBytes = 0;
  private input: Uint8Array = EMPTY;
  private inputView: DataView = new DataView(new ArrayBuffer(0));
  private inputOffset = 0;
  private output: { offset: number; length: number } | null = null;
  private errorOffset = 0;
  private httpStatus = 0;
  private httpHeaders: Uint8Array = EMPTY;
  /** Host calls (HTTP requests) made in the current call. */
  hostCalls = 0;

  constructor(private readonly options: ExtismOptions) {
    this.kernel = new ExtismKernel(options.maxKernelBytes);
  }

  /** Runs `fn` (an exported plugin function) on `input`. Traps propagate to the caller. */
  invoke(fn: () => unknown, input: Uint8Array): ExtismResult {
    const kernel = this.kernel;
    kernel.reset();
    this.input = input;
    this.inputView = new DataView(input.buffer, input.byteOffset, input.byteLength);
    this.inputOffset = 0;
    this.output = null;
    this.errorOffset = 0;
    this.httpStatus = 0;
    this.httpHeaders = EMPTY;
    let rc: unknown;
    try {
      rc = fn();
    } catch (error) {
      if (error instanceof ExtismCallError) return { ok: false, guestError: error.message };
      throw error;
    } finally {
      this.input = EMPTY;
    }
    const code = typeof rc === "number" ? rc : 0;
    if (this.errorOffset !== 0) {
      const message = kernel.block(this.errorOffset);
      return { ok: false, guestError: message === null ? "plugin set an error" : decoder.decode(message) };
    }
    if (code !== 0) return { ok: false, guestError: `plugin function returned ${code}` };
    // Set by output_set during the call, which the compiler cannot see.
    const output = this.output as { offset: number; length: number } | null;
    if (output === null) return { ok: true, response: EMPTY };
    return { ok: true, response: kernel.range(output.offset, output.length, "output_set").slice() };
  }

  readonly imports: Record<string, (...args: never[]) => unknown> = {
    input_length: () => BigInt(this.input.byteLength),
    input_load_u8: (offset: bigint) => {
      const at = offsetOf(offset);
      if (at >= this.input.byteLength) throw new ExtismCallError(`input_load_u8 past the input (${at})`);
      return this.input[at]!;
    },
    input_load_u64: (offset: bigint) => {
      const at = offsetOf(offset);
      if (at + 8 > this.input.byteLength) throw new ExtismCallError(`input_load_u64 past the input (${at})`);
      return this.inputView.getBigUint64(at, true);
    },
    /** Older PDKs copy the input out of a kernel block: it is stored on first ask. */
    input_offset: () => {
      if (this.inputOffset === 0) this.inputOffset = this.storeOrRefuse(this.input, "the input");
      return BigInt(this.inputOffset);
    },
    alloc: (size: bigint) => BigInt(this.kernel.alloc(offsetOf(size))),
    free: (offset: bigint) => this.kernel.free(offsetOf(offset)),
    length: (offset: bigint) => BigInt(this.kernel.length(offsetOf(offset))),
    length_unsafe: (offset: bigint) => BigInt(this.kernel.length(offsetOf(offset))),
    load_u8: (offset: bigint) => this.kernel.loadU8(offsetOf(offset)),
    load_u64: (offset: bigint) => this.kernel.loadU64(offsetOf(offset)),
    store_u8: (offset: bigint, value: number) => this.kernel.storeU8(offsetOf(offset), value & 0xff),
    store_u64: (offset: bigint, value: bigint) =>
      this.kernel.storeU64(offsetOf(offset), BigInt.asUintN(64, value)),
    output_set: (offset: bigint, length: bigint) => {
      const at = offsetOf(offset);
      const n = offsetOf(length);
      if (n > this.options.maxPayloadBytes) {
        throw new ExtismCallError(
          `plugin output of ${n} bytes exceeds the payload cap of ${this.options.maxPayloadBytes}`,
        );
      }
      this.kernel.range(at, n, "output_set");
      this.output = { offset: at, length: n };
    },
    error_set: (offset: bigint) => {
      this.errorOffset = offsetOf(offset);
    },
    error_get: () => BigInt(this.errorOffset),
    config_get: (key: bigint) => {
      const name = this.text(key, "config_get");
      // Own keys only: `toString` or `__proto__` must not find Object.prototype's.
      const value = Object.hasOwn(this.options.config, name) ? this.options.config[name] : undefined;
      return typeof value !== "string"
        ? NONE
        : BigInt(this.storeOrRefuse(encoder.encode(value), "a config value"));
    },
    var_get: (key: bigint) => {
      const value = this.vars.get(this.text(key, "var_get"));
      return value === undefined ? NONE : BigInt(this.storeOrRefuse(value, "a var"));
    },
    var_set: (key: bigint, value: bigint) => {
      const name = this.text(key, "var_set");
      const previous = this.vars.get(name)?.byteLength ?? 0;
      const at = offsetOf(value);
      if (at === 0) {
        this.vars.delete(name);
        this.varBytes -= previous;
        return;
      }
      const bytes = this.blockOf(at, "var_set").slice();
      const max = this.options.maxVarBytes ?? DEFAULT_MAX_VAR_BYTES;
      if (this.varBytes - previous + bytes.byteLength > max) {
        throw new ExtismCallError(
          `var '${name}' would take the plugin's vars past their cap of ${max} bytes`,
        );
      }
      this.vars.set(name, bytes);
      this.varBytes += bytes.byteLength - previous;
    },
    http_request: (request: bigint, body: bigint) => this.httpRequest(offsetOf(request), offsetOf(body)),
    http_status_code: () => this.httpStatus,
    http_headers: () =>
      this.httpHeaders.byteLength === 0 ? NONE : BigInt(this.storeOrRefuse(this.httpHeaders, "headers")),
    log_trace: (offset: bigint) => this.log("trace", offset),
    log_debug: (offset: bigint) => this.log("debug", offset),
    log_info: (offset: bigint) => this.log("info", offset),
    log_warn: (offset: bigint) => this.log("warn", offset),
    log_error: (offset: bigint) => this.log("error", offset),
    // Every level is passed on (the node's log keeps the level); 0 is Extism's trace.
    get_log_level: () => 0,
  };

  private log(level: ExtismLogLevel, offset: bigint): void {
    const bytes = this.kernel.block(offsetOf(offset));
    if (bytes === null) return;
    this.options.log(level, decoder.decode(bytes.subarray(0, this.options.maxPayloadBytes)));
  }

  private httpRequest(requestOffset: number, bodyOffset: number): bigint {
    this.hostCalls++;
    let parsed: { url?: unknown; method?: unknown; headers?: unknown };
    try {
      parsed = JSON.parse(decoder.decode(this.blockOf(requestOffset, "http_request"))) as typeof parsed;
    } catch {
      throw new ExtismCallError("http_request: the request is not the JSON object Extism's PDKs send");
    }
    const body = bodyOffset === 0 ? null : this.blockOf(bodyOffset, "http_request");
    if (body !== null && body.byteLength > this.options.maxPayloadBytes) {
      throw new ExtismCallError(`http_request: body of ${body.byteLength} bytes exceeds the payload cap`);
    }
    const payload = encoder.encode(
      JSON.stringify({
        url: parsed.url,
        method: typeof parsed.method === "string" ? parsed.method : "GET",
        ...(parsed.headers !== undefined && parsed.headers !== null ? { headers: parsed.headers } : {}),
        ...(body === null ? {} : { bodyBase64: Buffer.from(body).toString("base64") }),
      }),
    );
    const answer = this.options.hostCall({
      binding: "default",
      namespace: "wasmatrix:http",
      operation: "request",
      payload,
    });
    if (!answer.ok) {
      // Extism fails the call when a host is not allowed; so do we, with the capability's reason.
      const denied =
        answer.error.code === ErrorCode.PERMISSION_DENIED ||
        answer.error.code === ErrorCode.CAPABILITY_NOT_ASSIGNED;
      throw new ExtismCallError(
        `http_request ${denied ? "not allowed" : "failed"}: ${answer.error.code}: ${answer.error.message}`,
      );
    }
    const response = JSON.parse(decoder.decode(answer.data)) as {
      status: number;
      headers?: Record<string, string>;
      body?: string;
    };
    this.httpStatus = response.status;
    this.httpHeaders = encoder.encode(JSON.stringify(response.headers ?? {}));
    return BigInt(this.storeOrRefuse(encoder.encode(response.body ?? ""), "the HTTP response"));
  }

  private storeOrRefuse(bytes: Uint8Array, what: string): number {
    const offset = this.kernel.store(bytes);
    if (offset === 0) {
      throw new ExtismCallError(
        `the plugin's kernel memory (cap ${this.kernel.maxBytes} bytes) has no room for ${what} of ${bytes.byteLength} bytes`,
      );
    }
    return offset;
  }

  private blockOf(offset: number, fn: string): Uint8Array {
    const bytes = this.kernel.block(offset);
    if (bytes === null) throw new ExtismCallError(`${fn}: ${offset} is not a block the plugin allocated`);
    return bytes;
  }

  private text(offset: bigint, fn: string): string {
    return decoder.decode(this.blockOf(offsetOf(offset), fn));
  }
}
