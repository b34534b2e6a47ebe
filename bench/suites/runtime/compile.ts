import { createHash } from "node:crypto";
import { instrument, MAX_MEMORY_BYTES_CEILING, Runtime, WASM_PAGE_BYTES } from "@wasmatrix/runtime";
import { bigModule } from "../../big-module.js";
import type { Figure } from "../../report.js";
import { sampleAsync, sampleSync } from "../../stats.js";

const SAMPLES = 15;
const WARMUP = 3;

/**
 * Module intake on a 1 MB module: every wasmatrix figure beside raw `WebAssembly.compile` of
 * distinct bytes, plus the pieces (instrumentation alone) and the cache-hit path.
 */
export async function compileFigures(): Promise<Figure[]> {
  const big = bigModule();
  const mb = (big.sizeBytes / 1e6).toFixed(1);
  let seed = 0;
  const raw = await sampleAsync(() => WebAssembly.compile(big.variant(++seed)), {
    samples: SAMPLES,
    warmup: WARMUP,
  });
  const sameBytes = big.variant(-1);
  const rawSame = await sampleAsync(() => WebAssembly.compile(sameBytes), {
    samples: SAMPLES,
    warmup: WARMUP,
  });
  const runtime = new Runtime({ cache: { maxEntries: 4 } });
  try {
    const wasmatrix = await sampleAsync(
      async () => {
        const compiled = await runtime.compile(big.variant(++seed));
        if (compiled.cached) throw new Error("distinct bytes hit the cache");
      },
      { samples: SAMPLES, warmup: WARMUP },
    );
    const maxMemoryPages = MAX_MEMORY_BYTES_CEILING / WASM_PAGE_BYTES;
    const instrumentOnly = sampleSync(() => instrument(big.variant(++seed), { maxMemoryPages }), {
      samples: SAMPLES,
      warmup: WARMUP,
    });
    await runtime.compile(sameBytes);
    const hit = await sampleAsync(
      async () => {
        if (!(await runtime.compile(sameBytes)).cached) throw new Error("same bytes missed the cache");
      },
      { samples: SAMPLES, warmup: WARMUP },
    );
    const sha = sampleSync(() => createHash("sha256").update(sameBytes).digest(), {
      samples: SAMPLES,
      warmup: WARMUP,
    });
    const validate = sampleSync(() => WebAssembly.validate(sameBytes), { samples: SAMPLES, warmup: WARMUP });
    const ms = (micros: number) => micros / 1000;
    return [
      {
        name: `compile ${mb} MB, distinct bytes: runtime.compile (intake + instrument + compile)`,
        value: ms(wasmatrix.median),
        p99: ms(wasmatrix.p99),
        unit: "ms",
        baselines: [{ label: "raw WebAssembly.compile", value: ms(raw.median) }],
      },
      {
        name: `instrument() alone, ${mb} MB`,
        value: ms(instrumentOnly.median),
        p99: ms(instrumentOnly.p99),
        unit: "ms",
        baselines: [{ label: "raw WebAssembly.compile", value: ms(raw.median) }],
      },
      {
        name: `runtime.compile, cache hit (same ${mb} MB bytes)`,
        value: ms(hit.median),
        p99: ms(hit.p99),
        unit: "ms",
        baselines: [
          { label: "sha256 alone", value: ms(sha.median) },
          { label: "WebAssembly.validate alone", value: ms(validate.median) },
          { label: "raw WebAssembly.compile, same bytes", value: ms(rawSame.median) },
        ],
        note: "a hit still validates and hashes the bytes; only the digest is needed to find the entry",
      },
    ];
  } finally {
    await runtime.close();
  }
}
