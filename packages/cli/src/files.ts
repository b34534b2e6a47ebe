import { readFile } from "node:fs/promises";
import { text } from "node:stream/consumers";
import { UsageError } from "./failure.js";

/** Why a file named on the command line could not be read, in words (not `EISDIR`). */
export function unreadable(path: string, error: unknown): { message: string; hint?: string } {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return {
        message: `no such file: ${path}`,
        hint: "check the path; it is read by the CLI, not by the server",
      };
    case "EISDIR":
      return { message: `${path} is a directory, not a file`, hint: "name a .wasm file inside it" };
    case "EACCES":
      return { message: `no permission to read ${path}` };
    default:
      return { message: `cannot read ${path}: ${(error as Error).message}` };
  }
}

/** A file named on the command line; a missing or unreadable one is a usage error (exit 2). */
export async function readFileArg(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const { message, hint } = unreadable(path, error);
    throw new UsageError(message, hint);
  }
}

/** `--data`: literal text, `@path` for a file's bytes, `@-` for standard input. */
export async function readPayload(data: string | undefined): Promise<Buffer> {
  if (data === undefined) return Buffer.alloc(0);
  if (data === "@-") return Buffer.from(await text(process.stdin));
  if (data.startsWith("@")) return readFileArg(data.slice(1));
  return Buffer.from(data);
}
