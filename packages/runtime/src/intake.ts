import { createHash } from "node:crypto";
import { ErrorCode, ModuleDigest, WasmatrixError } from "@wasmatrix/core";

export const DEFAULT_MAX_MODULE_BYTES = 64 * 1024 * 1024;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SUPPORTED_VERSION = 1;

export interface IntakeResult {
  digest: ModuleDigest;
  sizeBytes: number;
}

export function digestOf(bytes: Uint8Array): ModuleDigest {
  return ModuleDigest.fromHex(createHash("sha256").update(bytes).digest("hex"));
}

/** Refuses a module over the size cap, before anything else (hashing included) touches it. */
export function checkModuleSize(bytes: Uint8Array, maxModuleBytes = DEFAULT_MAX_MODULE_BYTES): void {
  if (bytes.byteLength > maxModuleBytes) {
    throw new WasmatrixError(
      ErrorCode.MODULE_TOO_LARGE,
      `module is ${bytes.byteLength} bytes; the limit is ${maxModuleBytes} (raise maxModuleBytes to accept it)`,
      { sizeBytes: bytes.byteLength, maxModuleBytes },
    );
  }
}

/**
 * Checks header and validity, and says precisely what is wrong: a user who passed a text file or
 * a truncated download learns that, not "invalid".
 */
export async function validateModule(bytes: Uint8Array): Promise<void> {
  checkHeader(bytes);
  if (!WebAssembly.validate(bytes as BufferSource)) {
    // validate() gives no reason; compiling the invalid bytes does, and fails fast.
    const reason = await WebAssembly.compile(bytes as BufferSource).then(
      () => "validation failed",
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    throw new WasmatrixError(ErrorCode.INVALID_MODULE, `module does not validate: ${reason}`, {
      reason: "validation",
      validation: reason,
    });
  }
}

/** Size cap, header, validation and digest: everything a module must pass before it is compiled. */
export async function intakeModule(
  bytes: Uint8Array,
  options: { maxModuleBytes?: number } = {},
): Promise<IntakeResult> {
  checkModuleSize(bytes, options.maxModuleBytes);
  await validateModule(bytes);
  return { digest: digestOf(bytes), sizeBytes: bytes.byteLength };
}

function checkHeader(bytes: Uint8Array): void {
  if (bytes.byteLength < 8) {
    throw new WasmatrixError(
      ErrorCode.INVALID_MODULE,
      `module is truncated: ${bytes.byteLength} bytes, a module needs at least the 8-byte header`,
      { reason: "truncated", sizeBytes: bytes.byteLength },
    );
  }
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    const looksText = bytes
      .subarray(0, 8)
      .every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
    throw new WasmatrixError(
      ErrorCode.INVALID_MODULE,
      looksText
        ? "not a WebAssembly binary: the file looks like text (a .wat file must be compiled with wat2wasm first)"
        : "not a WebAssembly binary: bad magic number (expected \\0asm)",
      { reason: "bad_magic", magic: Buffer.from(bytes.subarray(0, 4)).toString("hex") },
    );
  }
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== SUPPORTED_VERSION) {
    throw new WasmatrixError(
      ErrorCode.INVALID_MODULE,
      `unsupported binary version ${version}: wasmatrix runs core modules of version 1 (components are not supported)`,
      { reason: "unsupported_version", version },
    );
  }
}
