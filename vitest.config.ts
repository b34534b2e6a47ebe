import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/**
 * Tests run the packages' TypeScript sources, never their built dist/: each package's exports map
 * points the `wasmatrix-source` condition at src/ (see docs/architecture.md, "Building").
 */
const conditions = ["wasmatrix-source", ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // Instances run in worker_threads of their own; a forked test process keeps those
    // threads out of vitest's own thread pool.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
