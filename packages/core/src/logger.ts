import { destination, type Logger, type LoggerOptions, pino } from "pino";

/**
 * The one logger factory. Library code takes a Logger (or calls this) and binds ids as fields:
 * `createLogger("runtime").child({ instanceId })`. Level from WASMATRIX_LOG_LEVEL (default
 * `info`; `silent` in tests unless set). Logs go to stderr so that stdout stays the program's.
 */
export type { Logger };

export const DEFAULT_LOG_LEVEL = "info";

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = process.env["WASMATRIX_LOG_LEVEL"] ?? (process.env["VITEST"] ? "silent" : DEFAULT_LOG_LEVEL);
  return pino({ level, base: { component }, ...options }, destination(2));
}

/** A logger that drops everything, for callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
