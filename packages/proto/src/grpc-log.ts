import { setLogger } from "@grpc/grpc-js";

/**
 * grpc-js writes its own diagnostics to the console, `E No address added out of total 1 resolved`
 * ahead of the WasmatrixError (with its hint) that reports the same failure. A process that wants
 * them elsewhere (its log, at debug) hands them here; libraries leave the global setting alone.
 */
export function routeGrpcLog(sink: (message: string) => void): void {
  const line = (...args: unknown[]) => sink(args.map(String).join(" "));
  setLogger({ error: line, info: line, debug: line });
}
