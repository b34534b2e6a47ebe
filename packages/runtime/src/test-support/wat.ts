import wabtInit from "wabt";

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/** Compiles WAT text to a binary module with every feature V8 in Node 20 supports enabled. */
export async function wat(text: string): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const parsed = wabt.parseWat("fixture.wat", text, {
    bulk_memory: true,
    reference_types: true,
    simd: true,
    exceptions: true,
    tail_call: true,
    sign_extension: true,
    sat_float_to_int: true,
    mutable_globals: true,
    multi_value: true,
  });
  try {
    return new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}
