import { parseDurationMs, ROLES } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { type Command, Option } from "commander";
import { type ServerOptions, withClient, withServerOption } from "../connection.js";
import { usage } from "../options.js";
import { print, printJson } from "../output.js";
import { formatTable } from "../table.js";
import { formatTimestamp } from "../time-format.js";

const DAY_MS = 86_400_000;

/** A token's lifetime: `30d` or `12h`, `90m`… (days on top of the usual duration units). */
export function parseLifetime(text: string): number {
  const days = /^\s*(\d+)\s*d\s*$/i.exec(text);
  const ms = days === null ? parseDurationMs(text, "a token lifetime") : Number(days[1]) * DAY_MS;
  if (!(ms > 0)) throw new Error(`a token lifetime must be positive; got '${text}'`);
  return ms;
}

interface CreateOptions extends ServerOptions {
  role: string;
  tenant?: string;
  expires?: number;
  json?: boolean;
}

interface ListOptions extends ServerOptions {
  json?: boolean;
}

export function tokenJson(info: pb.TokenInfo): Record<string, unknown> {
  return {
    tokenId: info.tokenId,
    role: info.role,
    tenant: info.tenant === "" ? null : info.tenant,
    expiresAt: info.expiresAtMs === 0 ? null : new Date(info.expiresAtMs).toISOString(),
    createdAt: new Date(info.createdAtMs).toISOString(),
    revoked: info.revoked,
  };
}

export function tokensTable(tokens: readonly pb.TokenInfo[]): string {
  return formatTable(
    ["ID", "ROLE", "TENANT", "EXPIRES", "CREATED", "REVOKED"],
    tokens.map((t) => [
      t.tokenId,
      t.role,
      t.tenant === "" ? "(all)" : t.tenant,
      t.expiresAtMs === 0 ? "never" : formatTimestamp(t.expiresAtMs),
      formatTimestamp(t.createdAtMs),
      t.revoked ? "yes" : "no",
    ]),
  );
}

export function registerToken(program: Command): void {
  const token = program
    .command("token")
    .description("API tokens of a server started with --auth (admin only): create, list, revoke")
    .addHelpText(
      "after",
      `
Roles: admin (everything), deployer (start, stop, invoke, caps within its tenant), reader (ps,
inspect, events, logs within its tenant). A token with --tenant sees only that tenant's instances.

Examples:
  export WASMATRIX_TOKEN=$(cat ~/.local/state/wasmatrix/admin.token)
  wasmatrix token create --role deployer --tenant shop --expires 30d
  wasmatrix token list
  wasmatrix token revoke tok_Xa3…`,
    );

  withServerOption(
    token
      .command("create")
      .description("Issue a token; prints only the token on stdout (shown once, never stored by the server)")
      .addOption(
        new Option("--role <role>", "admin, deployer or reader").choices(ROLES).makeOptionMandatory(),
      )
      .option("--tenant <name>", "confine the token to one tenant's instances (default: every tenant)")
      .option(
        "--expires <duration>",
        "lifetime: 30d, 12h, 90m… (default: never expires)",
        usage(parseLifetime),
      )
      .option("--json", "print the token with its id and claims as JSON")
      .addHelpText(
        "after",
        `
Examples:
  wasmatrix token create --role reader --tenant shop --expires 7d
  TOKEN=$(wasmatrix token create --role deployer --tenant shop)
  wasmatrix token create --role admin --json | jq -r .tokenId`,
      ),
  ).action(async (options: CreateOptions) => {
    await withClient(options, {}, async (client) => {
      const created = await client.createToken({
        role: options.role,
        tenant: options.tenant ?? "",
        expiresInMs: options.expires ?? 0,
      });
      if (options.json) printJson({ token: created.token, ...tokenJson(created.info!) });
      else print(`${created.token}\n`);
    });
  });

  withServerOption(
    token
      .command("list")
      .alias("ls")
      .description("List issued tokens: id, role, tenant, expiry, revoked (never the tokens themselves)")
      .option("--json", "print a JSON array")
      .addHelpText(
        "after",
        "\nExamples:\n  wasmatrix token list\n  wasmatrix token list --json | jq -r '.[].tokenId'",
      ),
  ).action(async (options: ListOptions) => {
    await withClient(options, {}, async (client) => {
      const { tokens } = await client.listTokens();
      if (options.json) printJson(tokens.map(tokenJson));
      else print(tokensTable(tokens));
    });
  });

  withServerOption(
    token
      .command("revoke")
      .description("Revoke a token by id: every control plane sharing the state dir refuses it from then on")
      .argument("<id>", "the token's id (from `wasmatrix token list`)")
      .option("--json", "print the revoked token's record as JSON")
      .addHelpText("after", "\nExamples:\n  wasmatrix token revoke tok_Xa3bC9…"),
  ).action(async (id: string, options: ListOptions) => {
    await withClient(options, {}, async (client) => {
      const info = await client.revokeToken({ tokenId: id });
      if (options.json) printJson(tokenJson(info));
      else
        print(
          `revoked ${info.tokenId} (${info.role}${info.tenant === "" ? "" : `, tenant ${info.tenant}`})\n`,
        );
    });
  });
}
