import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { formatSignature, parsePrivateKey, signDigest } from "@wasmatrix/core";
import type { Command } from "commander";
import { UsageError } from "../failure.js";
import { readFileArg } from "../files.js";
import { localAction } from "../local-action.js";
import { print, printJson } from "../output.js";

interface SignOptions {
  key: string;
  out?: string;
  json?: boolean;
}

export function registerSign(program: Command): void {
  program
    .command("sign")
    .description("Sign a module: write MODULE.sig, a detached ed25519 signature over its sha256 digest")
    .argument("<module>", "path to a .wasm file")
    .requiredOption("--key <file>", "the private key (NAME.key from `wasmatrix keys generate`)")
    .option("--out <file>", "where to write the signature; default MODULE.sig beside the module")
    .option("--json", "print the signature's { keyId, digest, path }")
    .addHelpText(
      "after",
      `
\`wasmatrix start MODULE\` sends MODULE.sig when it sits beside the module (or --signature FILE).
Servers started with --trusted-keys DIR refuse modules without a valid signature by a key whose
.pub is in DIR. Sign again after every rebuild: one changed byte and the signature no longer fits.

Examples:
  wasmatrix sign examples/build/echo_reactor.wasm --key release.key
  wasmatrix start examples/build/echo_reactor.wasm --id echo      # sends echo_reactor.wasm.sig`,
    )
    .action((modulePath: string, options: SignOptions) =>
      localAction(async () => {
        const module = await readFileArg(modulePath);
        const { validateModule } = await import("@wasmatrix/runtime");
        await validateModule(module);
        let key: ReturnType<typeof parsePrivateKey>;
        try {
          key = parsePrivateKey((await readFileArg(options.key)).toString("utf8"));
        } catch (error) {
          if (error instanceof UsageError) throw error;
          throw new UsageError(
            `${options.key} is not an ed25519 private key: ${(error as Error).message}`,
            "pass the NAME.key written by `wasmatrix keys generate --out NAME`",
          );
        }
        const digest = `sha256:${createHash("sha256").update(module).digest("hex")}`;
        const signature = signDigest(digest, key);
        const path = options.out ?? `${modulePath}.sig`;
        await writeFile(path, formatSignature(signature));
        if (options.json) printJson({ keyId: signature.keyId, digest, path });
        else print(`signed ${modulePath} (${digest}) with key ${signature.keyId}: ${path}\n`);
        return 0;
      }),
    );
}
