import { ErrorCode, WasmatrixError, type WasmatrixErrorData } from "@wasmatrix/core";

/**
 * The host side of waPC (https://wapc.io): invocations into `__guest_call` and capability calls
 * out through `__host_call`. The host keeps no allocator in the guest: the guest asks for sizes
 * and hands us pointers into its own memory.
 */

export interface HostCallRequest {
  binding: string;
  namespace: string;
  operation: string;
  payload: Uint8Array;
}

export type HostCallAnswer = { ok: true; data: Uint8Array } | { ok: false; error: WasmatrixErrorData };

export type HostCallFn = (request: HostCallRequest) => HostCallAnswer;

/** A guest broke the ABI (bad pointer, call out of sequence): the instance crashes with this. */
export class GuestAbiError extends Error {
  constructor(
    readonly reason: "memory_out_of_bounds" | "host_error",
    message: string,
  ) {
    super(message);
    this.name = "GuestAbiError";
  }
}

/** A guest's response was larger than the payload cap. */
export class ResponseTooLarge extends Error {}

export interface WapcOptions {
  getMemory(): WebAssembly.Memory;
  hostCall: HostCallFn;
  consoleLog(message: string): void;
  maxPayloadBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

export class WapcHost {
  private operation: Uint8Array = EMPTY;
  private payload: Uint8Array = EMPTY;
  private response: Uint8Array | null = null;
  private guestError: string | null = null;
  private hostResponse: Uint8Array = EMPTY;
  private hostError: Uint8Array = EMPTY;
  /** Host calls made since the last `takeHostCalls`. */
  hostCalls = 0;
  private readonly operationCache = new Map<string, Uint8Array>();

  constructor(private readonly options: WapcOptions) {}

  readonly imports: Record<string, (...args: number[]) => number | undefined> = {
    __guest_request: (operationPtr: number, payloadPtr: number) => {
      this.write(operationPtr, this.operation, "__guest_request");
      this.write(payloadPtr, this.payload, "__guest_request");
      return undefined;
    },
    __guest_response: (ptr: number, len: number) => {
      this.checkBounds(ptr, len, "__guest_response");
      if (len >>> 0 > this.options.maxPayloadBytes) {
        throw new ResponseTooLarge(
          `guest response of ${len >>> 0} bytes exceeds the payload cap of ${this.options.maxPayloadBytes}`,
        );
      }
      this.response = this.read(ptr, len, "__guest_response").slice();
      return undefined;
    },
    __guest_error: (ptr: number, len: number) => {
      const bytes = this.read(ptr, len, "__guest_error", this.options.maxPayloadBytes);
      this.guestError = decoder.decode(bytes);
      return undefined;
    },
    __host_call: (
      bindingPtr: number,
      bindingLen: number,
      namespacePtr: number,
      namespaceLen: number,
      operationPtr: number,
      operationLen: number,
      payloadPtr: number,
      payloadLen: number,
    ) => {
      this.hostCalls++;
      this.hostResponse = EMPTY;
      this.hostError = EMPTY;
      // Bounds before the cap: a range outside memory is a broken guest, which crashes; only an
      // in-bounds payload over the cap is an error the guest can handle (docs/abi.md).
      this.checkBounds(payloadPtr, payloadLen, "__host_call");
      if (payloadLen >>> 0 > this.options.maxPayloadBytes) {
        return this.fail({
          code: ErrorCode.RESOURCE_EXHAUSTED,
          message: `host call payload of ${payloadLen >>> 0} bytes exceeds the cap of ${this.options.maxPayloadBytes}`,
          details: { sizeBytes: payloadLen >>> 0, maxBytes: this.options.maxPayloadBytes },
          timestamp: Date.now(),
        });
      }
      const request: HostCallRequest = {
        binding: this.readString(bindingPtr, bindingLen),
        namespace: this.readString(namespacePtr, namespaceLen),
        operation: this.readString(operationPtr, operationLen),
        payload: this.read(payloadPtr, payloadLen, "__host_call").slice(),
      };
      const answer = this.options.hostCall(request);
      if (!answer.ok) return this.fail(answer.error);
      if (answer.data.byteLength > this.options.maxPayloadBytes) {
        return this.fail({
          code: ErrorCode.RESOURCE_EXHAUSTED,
          message: `host call response of ${answer.data.byteLength} bytes exceeds the cap of ${this.options.maxPayloadBytes}`,
          details: { sizeBytes: answer.data.byteLength, maxBytes: this.options.maxPayloadBytes },
          timestamp: Date.now(),
        });
      }
      this.hostResponse = answer.data;
      return 1;
    },
    __host_response_len: () => this.hostResponse.byteLength,
    __host_response: (ptr: number) => {
      this.write(ptr, this.hostResponse, "__host_response");
      return undefined;
    },
    __host_error_len: () => this.hostError.byteLength,
    __host_error: (ptr: number) => {
      this.write(ptr, this.hostError, "__host_error");
      return undefined;
    },
    __console_log: (ptr: number, len: number) => {
      const bytes = this.read(ptr, len, "__console_log", this.options.maxPayloadBytes);
      this.options.consoleLog(decoder.decode(bytes));
      return undefined;
    },
  };

  /** Calls `__guest_call` for one operation. Traps propagate to the caller. */
  invoke(
    guestCall: (operationLen: number, payloadLen: number) => number,
    operation: string,
    payload: Uint8Array,
  ): { ok: true; response: Uint8Array } | { ok: false; guestError: string } {
    this.operation = this.encodeOperation(operation);
    this.payload = payload;
    this.response = null;
    this.guestError = null;
    try {
      const status = guestCall(this.operation.byteLength, payload.byteLength);
      if (status === 1) return { ok: true, response: this.response ?? EMPTY };
      return { ok: false, guestError: this.guestError ?? "guest returned an error without a message" };
    } finally {
      this.payload = EMPTY;
      this.response = null;
    }
  }

  private fail(error: WasmatrixErrorData): number {
    this.hostError = encoder.encode(JSON.stringify({ code: error.code, message: error.message }));
    return 0;
  }

  private encodeOperation(operation: string): Uint8Array {
    let bytes = this.operationCache.get(operation);
    if (bytes === undefined) {
      bytes = encoder.encode(operation);
      // Bounded: operation names come from callers, not guests, but a caller could send many.
      if (this.operationCache.size >= 256) this.operationCache.clear();
      this.operationCache.set(operation, bytes);
    }
    return bytes;
  }

  /** The whole range the guest named must be in memory, even when only a prefix of it is read. */
  private checkBounds(ptr: number, len: number, fn: string): ArrayBuffer {
    const buffer = this.options.getMemory().buffer;
    const start = ptr >>> 0;
    const length = len >>> 0;
    if (start + length > buffer.byteLength) {
      throw new GuestAbiError(
        "memory_out_of_bounds",
        `guest passed an out-of-bounds region [${start}, +${length}) to ${fn}`,
      );
    }
    return buffer;
  }

  /** A view of the guest's range, at most `keep` bytes of it. */
  private read(ptr: number, len: number, fn: string, keep = Number.POSITIVE_INFINITY): Uint8Array {
    const buffer = this.checkBounds(ptr, len, fn);
    return new Uint8Array(buffer, ptr >>> 0, Math.min(len >>> 0, keep));
  }

  private readString(ptr: number, len: number): string {
    return decoder.decode(this.read(ptr, len, "__host_call", 4096));
  }

  private write(ptr: number, bytes: Uint8Array, fn: string): void {
    const buffer = this.options.getMemory().buffer;
    const start = ptr >>> 0;
    if (start + bytes.byteLength > buffer.byteLength) {
      throw new GuestAbiError(
        "memory_out_of_bounds",
        `guest passed an out-of-bounds pointer ${start} (+${bytes.byteLength}) to ${fn}`,
      );
    }
    new Uint8Array(buffer, start, bytes.byteLength).set(bytes);
  }
}

export function errorAnswer(error: unknown): HostCallAnswer {
  return { ok: false, error: WasmatrixError.from(error).toData() };
}
