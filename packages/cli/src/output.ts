/** Where command output goes: results on stdout, diagnostics on stderr (logs, errors, hints). */

/** One JSON document, indented, for listing and inspecting commands. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON value per line, for streams (`events --json`, `logs --json`): `jq -c` and `grep` friendly. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text);
}

export function printError(text: string): void {
  process.stderr.write(text);
}

/**
 * An AbortSignal that fires on Ctrl-C or SIGTERM, for `--follow`: the stream ends, the command
 * exits 0. The handlers are removed when the returned `release` is called.
 */
export function interruptSignal(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  return {
    signal: controller.signal,
    release() {
      process.off("SIGINT", abort);
      process.off("SIGTERM", abort);
    },
  };
}
