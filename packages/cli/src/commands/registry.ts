import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import {
  type Credentials,
  parseReference,
  parseRegistryAuth,
  RegistryClient,
  SIGNATURE_ANNOTATION,
} from "@wasmatrix/oci";
import type { Command } from "commander";
import { CLUSTER_EXIT } from "../exit-codes.js";
import { failureFrom, formatFailure, UsageError } from "../failure.js";
import { readFileArg } from "../files.js";
import { print, printJson } from "../output.js";

interface RegistryOptions {
  registryAuth?: string;
  json?: boolean;
}

/** Credentials from --registry-auth or WASMATRIX_REGISTRY_AUTH; else the client reads docker's config file. */
export function registryClient(options: RegistryOptions): RegistryClient {
  const auth = options.registryAuth ?? process.env["WASMATRIX_REGISTRY_AUTH"];
  const credentials: Credentials | undefined = auth ? parseRegistryAuth(auth) : undefined;
  return new RegistryClient(credentials ? { credentials } : {});
}

async function reporting(body: () => Promise<void>): Promise<void> {
  try {
    await body();
    process.exitCode = CLUSTER_EXIT.OK;
  } catch (error) {
    const failure = failureFrom(error);
    process.stderr.write(formatFailure(failure));
    process.exitCode = failure.exitCode;
  }
}

const AUTH_HELP = `
Registries on loopback (127.0.0.1, localhost, ::1) are spoken to over plain HTTP, as docker does;
every other one over HTTPS. Credentials: --registry-auth USER:PASSWORD (or WASMATRIX_REGISTRY_AUTH),
else the registry's entry in ~/.docker/config.json ($DOCKER_CONFIG). The artifact is the Wasm layout
wasmCloud and Spin use: config application/vnd.wasm.config.v0+json, one application/wasm layer.`;

export function registerRegistry(program: Command): void {
  program
    .command("push")
    .description("Push a module to an OCI registry as a Wasm artifact (its .sig file travels with it)")
    .argument("<module>", "the .wasm file")
    .argument("<reference>", "host[:port]/repository:tag, e.g. 127.0.0.1:5000/team/echo:1.0")
    .option("--signature <file>", "detached signature to attach (default: <module>.sig when it exists)")
    .option("--registry-auth <user:password>", "registry credentials")
    .option("--json", "print the pushed digests as JSON")
    .addHelpText(
      "after",
      `${AUTH_HELP}

Prints the reference pinned to the pushed manifest's digest: start it with
\`wasmatrix start oci://<that>\` to run exactly these bytes, whatever the tag points to later.

Examples:
  wasmatrix push examples/build/echo_reactor.wasm 127.0.0.1:5000/team/echo:1.0
  wasmatrix push app.wasm registry.example.com/app:2 --registry-auth ci:$TOKEN`,
    )
    .action(
      async (modulePath: string, reference: string, options: RegistryOptions & { signature?: string }) => {
        await reporting(async () => {
          const ref = parseReference(reference);
          if (ref.tag === undefined)
            throw new UsageError(`push needs a tag: ${reference}`, "add :TAG to the reference");
          const module = await readFileArg(modulePath);
          const signaturePath =
            options.signature ?? (existsSync(`${modulePath}.sig`) ? `${modulePath}.sig` : undefined);
          const signature = signaturePath ? await readFileArg(signaturePath) : undefined;
          const result = await registryClient(options).push(ref, module, signature ? { signature } : {});
          if (options.json) {
            printJson({ ...result, signed: signature !== undefined });
            return;
          }
          print(`pushed ${basename(modulePath)} (${result.size} bytes${signature ? ", signed" : ""})`);
          print(result.pinned);
        });
      },
    );

  program
    .command("pull")
    .description("Pull a module from an OCI registry, verified by digest")
    .argument("<reference>", "host[:port]/repository[:tag][@sha256:…] (oci:// optional)")
    .option("-o, --output <file>", "where to write the module (default: <repository's last part>.wasm)")
    .option("--registry-auth <user:password>", "registry credentials")
    .option("--json", "print the pulled digests as JSON")
    .addHelpText(
      "after",
      `${AUTH_HELP}

The module's digest is checked against the manifest, and the manifest's against a pinned
@sha256:… when the reference has one; a mismatch refuses the bytes (DIGEST_MISMATCH). A signature
pushed with the module (annotation ${SIGNATURE_ANNOTATION}) is written beside it as <file>.sig.

Examples:
  wasmatrix pull 127.0.0.1:5000/team/echo:1.0
  wasmatrix pull 127.0.0.1:5000/team/echo@sha256:… -o echo.wasm`,
    )
    .action(async (reference: string, options: RegistryOptions & { output?: string }) => {
      await reporting(async () => {
        const ref = parseReference(reference);
        const pulled = await registryClient(options).pull(ref);
        const output = options.output ?? `${ref.repository.split("/").pop()}.wasm`;
        await writeFile(output, pulled.bytes);
        if (pulled.signature) await writeFile(`${output}.sig`, pulled.signature);
        if (options.json) {
          printJson({
            output,
            size: pulled.bytes.length,
            manifestDigest: pulled.manifestDigest,
            layerDigest: pulled.layerDigest,
            pinned: pulled.pinned,
            signed: pulled.signature !== undefined,
          });
          return;
        }
        print(
          `pulled ${pulled.pinned} → ${output} (${pulled.bytes.length} bytes${pulled.signature ? ", with its .sig" : ""})`,
        );
      });
    });
}
