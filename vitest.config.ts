import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // Instances run in worker_threads of their own; a forked test process keeps those
    // threads out of vitest's own thread pool.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
