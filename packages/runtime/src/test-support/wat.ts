import wabtInit from "wabt";

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/** Every feature V8 in Node 20 supports. */
const FEATURES = {
  bulk_memory: true,
  reference_types: true,
  simd: true,
  exceptions: true,
  tail_call: true,
  sign_extension: true,
  sat_float_to_int: true,
  mutable_globals: true,
  multi_value: true,
};

/**
 * Compiles WAT text to a binary module with every feature V8 in Node 20 supports enabled; more
 * features (threads, memory64…) on request, and the name section with `names`.
 */
export async function wat(
  text: string,
  options: { features?: Record<string, boolean>; names?: boolean } = {},
): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const parsed = wabt.parseWat("fixture.wat", text, { ...FEATURES, ...options.features });
  try {
    parsed.resolveNames();
    return new Uint8Array(parsed.toBinary({ write_debug_names: options.names ?? false }).buffer);
  } finally {
    parsed.destroy();
  }
}
