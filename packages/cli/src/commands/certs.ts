import type { CertificateIdentity } from "@wasmatrix/core";
import { type Command, Option } from "commander";
import {
  type CertificateSummary,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  initAuthority,
  issueCertificate,
  listAuthority,
} from "../certs/authority.js";
import { CLUSTER_EXIT } from "../exit-codes.js";
import { failureFrom, formatFailure, UsageError } from "../failure.js";
import { parsePositive } from "../options.js";
import { print, printError, printJson } from "../output.js";
import { formatPairs, formatTable } from "../table.js";

interface IssueOptions {
  dir: string;
  node?: string;
  provider?: string;
  controlPlane?: boolean;
  client?: string;
  days?: number;
  host?: string[];
}

/** Runs a command that needs no server, printing a failure as every command does. */
async function locally(body: () => Promise<void>): Promise<void> {
  try {
    await body();
    process.exitCode = CLUSTER_EXIT.OK;
  } catch (error) {
    const failure = failureFrom(error);
    printError(formatFailure(failure));
    process.exitCode = failure.exitCode;
  }
}

const dirOption = () =>
  new Option("--dir <dir>", "the directory holding ca.crt/ca.key and the certificates")
    .env("WASMATRIX_CERTS_DIR")
    .makeOptionMandatory();

export function registerCerts(program: Command): void {
  const certs = program
    .command("certs")
    .description("Make the CA and certificates for mutual TLS between wasmatrix processes")
    .addHelpText(
      "after",
      `
Every certificate names what its holder is in its subject alternative name: node:<id>,
provider:<id>, control-plane:, client:<name>. A node can then register and report only as its
own id, a provider serves only nodes, a node takes control calls only from a control plane.
Keys are ECDSA P-256, written with mode 0600. See docs/security.md.

Examples:
  wasmatrix certs init --dir pki
  wasmatrix certs issue --dir pki --control-plane --host cp.example.com
  wasmatrix certs issue --dir pki --node n1 --host 10.0.0.5
  wasmatrix certs issue --dir pki --client alice
  wasmatrix certs list --dir pki`,
    );

  certs
    .command("init")
    .description("Create a CA: DIR/ca.crt and DIR/ca.key (refuses to replace an existing one)")
    .addOption(dirOption())
    .option("--days <n>", `how long the CA is valid (default ${DEFAULT_CA_DAYS})`, parsePositive)
    .addHelpText("after", "\nExample:\n  wasmatrix certs init --dir pki")
    .action(async (options: { dir: string; days?: number }) => {
      await locally(async () => {
        const files = await initAuthority(
          options.dir,
          options.days === undefined ? {} : { days: options.days },
        );
        print(`wrote ${files.cert} and ${files.key} (keep ca.key secret: it can mint any identity)\n`);
        print(`next: wasmatrix certs issue --dir ${options.dir} --control-plane\n`);
      });
    });

  certs
    .command("issue")
    .description(
      "Issue a certificate and key signed by the CA: DIR/<node-ID|provider-ID|control-plane|client-NAME>.crt/.key",
    )
    .addOption(dirOption())
    .option("--node <id>", "for the node agent with this id")
    .option("--provider <id>", "for the provider process with this id")
    .option("--control-plane", "for a control plane (or `wasmatrix up`)")
    .option("--client <name>", "for a user or program calling the API")
    .option("--days <n>", `how long it is valid (default ${DEFAULT_CERT_DAYS})`, parsePositive)
    .option(
      "--host <name-or-ip...>",
      "more DNS names or IPs the holder serves on (localhost and 127.0.0.1 are always in)",
    )
    .addHelpText(
      "after",
      `
Exactly one of --node, --provider, --control-plane, --client. Server certificates (all but
--client) name localhost, 127.0.0.1 and every --host; peers check the address they dial against
them.

Examples:
  wasmatrix certs issue --dir pki --node n1 --host 10.0.0.5 --host n1.internal
  wasmatrix certs issue --dir pki --client ci --days 30`,
    )
    .action(async (options: IssueOptions) => {
      await locally(async () => {
        const identity = identityFrom(options);
        const files = await issueCertificate(options.dir, identity, {
          ...(options.days === undefined ? {} : { days: options.days }),
          hosts: options.host ?? [],
        });
        print(`wrote ${files.cert} and ${files.key}\n`);
      });
    });

  certs
    .command("list")
    .description("Show the CA's fingerprint and each certificate's subject, identity and expiry")
    .addOption(dirOption())
    .option("--json", "print JSON: { dir, caFingerprint, ca, certificates }")
    .addHelpText(
      "after",
      "\nExamples:\n  wasmatrix certs list --dir pki\n  wasmatrix certs list --dir pki --json | jq -r '.certificates[].identity'",
    )
    .action(async (options: { dir: string; json?: boolean }) => {
      await locally(async () => {
        const listing = await listAuthority(options.dir);
        if (options.json) {
          printJson(listing);
          return;
        }
        print(
          formatPairs([
            ["CA", listing.ca.subject],
            ["FINGERPRINT", `SHA256 ${listing.caFingerprint}`],
            ["EXPIRES", listing.ca.notAfter],
          ]),
        );
        print("\n");
        print(
          formatTable(
            ["FILE", "IDENTITY", "SUBJECT", "HOSTS", "EXPIRES", "STATUS"],
            listing.certificates.map((c) => [
              c.file,
              c.identity,
              c.subject,
              c.hosts.join(","),
              c.notAfter,
              status(c),
            ]),
          ),
        );
      });
    });
}

function status(c: CertificateSummary): string {
  if (!c.issuedByCa) return "not this CA's";
  return c.expired ? "expired" : "valid";
}

function identityFrom(options: IssueOptions): CertificateIdentity {
  const chosen: CertificateIdentity[] = [];
  if (options.node !== undefined) chosen.push({ kind: "node", id: options.node });
  if (options.provider !== undefined) chosen.push({ kind: "provider", id: options.provider });
  if (options.controlPlane) chosen.push({ kind: "control-plane" });
  if (options.client !== undefined) chosen.push({ kind: "client", name: options.client });
  if (chosen.length !== 1) {
    throw new UsageError(
      "name exactly one holder: --node ID, --provider ID, --control-plane or --client NAME",
      "wasmatrix certs issue --dir pki --node n1",
    );
  }
  return chosen[0]!;
}
