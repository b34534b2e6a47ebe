import { readFile } from "node:fs/promises";
import { text } from "node:stream/consumers";
import { UsageError } from "./failure.js";

/** A file named on the command line; a missing or unreadable one is a usage error (exit 2). */
export async function readFileArg(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT" ? `no such file: ${path}` : `cannot read ${path}: ${(error as Error).message}`,
      code === "ENOENT" ? "check the path; it is read by the CLI, not by the server" : undefined,
    );
  }
}

/** `--data`: literal text, `@path` for a file's bytes, `@-` for standard input. */
export async function readPayload(data: string | undefined): Promise<Buffer> {
  if (data === undefined) return Buffer.alloc(0);
  if (data === "@-") return Buffer.from(await text(process.stdin));
  if (data.startsWith("@")) return readFileArg(data.slice(1));
  return Buffer.from(data);
}
