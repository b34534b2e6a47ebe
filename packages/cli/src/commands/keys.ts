import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { keyIdOf } from "@wasmatrix/core";
import type { Command } from "commander";
import { UsageError } from "../failure.js";
import { localAction } from "../local-action.js";
import { print, printJson } from "../output.js";

interface GenerateOptions {
  out: string;
  force?: boolean;
  json?: boolean;
}

export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("Make the ed25519 keys that sign modules");
  keys
    .command("generate")
    .description("Write a new signing key: NAME.key (private, mode 0600) and NAME.pub (public)")
    .requiredOption("--out <name>", "path and name of the two files, without extension")
    .option("--force", "overwrite NAME.key and NAME.pub if they exist")
    .option("--json", "print { keyId, privateKey, publicKey } (the paths)")
    .addHelpText(
      "after",
      `
Sign modules with NAME.key (\`wasmatrix sign\`); copy NAME.pub into the --trusted-keys directory
of every control plane and node agent that should run them. The key id printed is what .sig
files and the audit log name. Keep NAME.key secret: anyone holding it can sign modules.

Examples:
  wasmatrix keys generate --out ~/.config/wasmatrix/release
  mkdir -p /etc/wasmatrix/trusted && cp ~/.config/wasmatrix/release.pub /etc/wasmatrix/trusted/`,
    )
    .action((options: GenerateOptions) =>
      localAction(async () => {
        const { privateKey, publicKey } = generateKeyPairSync("ed25519");
        const paths = { privateKey: `${options.out}.key`, publicKey: `${options.out}.pub` };
        const flag = options.force ? "w" : "wx";
        try {
          await writeFile(paths.privateKey, privateKey.export({ format: "pem", type: "pkcs8" }), {
            mode: 0o600,
            flag,
          });
          await writeFile(paths.publicKey, publicKey.export({ format: "pem", type: "spki" }), {
            mode: 0o644,
            flag,
          });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EEXIST") {
            throw new UsageError(
              `${paths.privateKey} or ${paths.publicKey} exists already`,
              "pick another --out, or pass --force to replace the key (modules signed with it will no longer verify with the new one)",
            );
          }
          throw new UsageError(`cannot write ${options.out}.key/.pub: ${(error as Error).message}`);
        }
        const keyId = keyIdOf(publicKey);
        if (options.json) printJson({ keyId, ...paths });
        else {
          print(`wrote ${paths.privateKey} (private, mode 0600) and ${paths.publicKey}\nkey id ${keyId}\n`);
        }
        return 0;
      }),
    );
}
