import { failureFrom, formatFailure } from "./failure.js";
import { printError } from "./output.js";

/**
 * Runs a command that needs no server (`keys`, `sign`, `audit verify`): a failure prints
 * `error: …` / `hint: …` and sets the exit code as a server's refusal would (2 for usage).
 */
export async function localAction(body: () => Promise<number | undefined>): Promise<void> {
  try {
    process.exitCode = (await body()) ?? 0;
  } catch (error) {
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    process.exitCode = failure.exitCode;
  }
}
