// Worker entry when wasmatrix runs from its TypeScript sources (tsx, vitest). Node 20 does not
// apply `--import` loaders to a worker's main module, so the worker loads its real entry through
// tsx's scoped import instead. Bare `tsx` resolves from this file, whatever the current directory.
import { tsImport } from "tsx/esm/api";

await tsImport("./entry.ts", import.meta.url);
