import { type ErrorCode, WasmatrixError } from "@wasmatrix/core";
import { isUnreachable } from "@wasmatrix/proto";
import { CLUSTER_EXIT } from "./exit-codes.js";

/**
 * How a failed command ends: what it prints (`error: …` and a `hint: …` saying what to do next)
 * and its exit code. The decision is made from the error's code only, never from its message.
 */
export interface Failure {
  readonly exitCode: number;
  readonly message: string;
  /** Lines under the message: the reasons the error's details give (why each node was passed over…). */
  readonly reasons?: readonly string[];
  readonly hint?: string;
}

export const UNREACHABLE_HINT =
  "is `wasmatrix up` running? set --server or WASMATRIX_SERVER; a server with TLS also needs --tls-ca, --tls-cert and --tls-key (or a context)";

/** A refusal by the mTLS identity rules names the rpc and the certificate it refused. */
const IDENTITY_HINT =
  "the API takes client certificates (`wasmatrix certs issue --client NAME`); node, provider and control-plane certificates are for those daemons";

/** A mistake on the command line found after commander's own checks (an unreadable file…). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A PERMISSION_DENIED of the API's access table (it names the RPC), not of an instance's capabilities. */
const isAccessRefusal = (error: WasmatrixError): boolean =>
  error.code === "PERMISSION_DENIED" && typeof error.details["rpc"] === "string";
/** A token refusal names the token's role; an mTLS identity refusal names none (core api-access.ts, identity-rules.ts). */
const accessHint = (error: WasmatrixError): string | undefined =>
  !isAccessRefusal(error)
    ? undefined
    : typeof error.details["role"] === "string"
      ? ACCESS_HINT
      : IDENTITY_HINT;
const ACCESS_HINT =
  "your token's role or tenant does not allow this; an admin can issue another with `wasmatrix token create --role <role>`";

const HINTS: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED:
    "pass --token or set WASMATRIX_TOKEN; the first `wasmatrix up --auth` (or control-plane --auth) wrote an admin token to <state-dir>/admin.token",
  INSTANCE_NOT_FOUND: "`wasmatrix ps --all` lists every instance the server knows, ended ones included",
  NODE_NOT_FOUND: "`wasmatrix nodes` lists the nodes",
  ALREADY_EXISTS: "stop it with `wasmatrix stop <id>`, or pick another --id",
  CAPABILITY_NOT_ASSIGNED: "`wasmatrix caps ls <id>` shows what the instance holds",
  PERMISSION_DENIED:
    "`wasmatrix caps ls <id>` shows the permissions; grant more with `wasmatrix caps assign`",
  FAILED_PRECONDITION:
    "`wasmatrix ps --all` shows every instance's status; start a stopped one again with `wasmatrix start --id <id>`",
  NODE_UNAVAILABLE:
    "the server answered, but no node could serve it: `wasmatrix nodes` shows each node's status, address, labels and capabilities; `wasmatrix events --kind instance.pending` says why instances wait",
  INVALID_MODULE: "`wasmatrix run <module.wasm>` runs it locally and reports what is wrong",
  MODULE_TOO_LARGE: "the server's module size cap refused it; build a smaller module",
  TIMEOUT: "the server did not answer in time; `wasmatrix events` shows what it is doing",
  INCOMPATIBLE_VERSION: "use a wasmatrix CLI of the same major version as the server (`wasmatrix info`)",
  MODULE_SIGNATURE_INVALID:
    "sign the module with `wasmatrix sign MODULE --key KEY.key` (start sends MODULE.sig), with a key whose .pub is in the server's --trusted-keys directory",
  INTERNAL:
    "this is a bug or an environment failure; the server's log (stderr of `wasmatrix up`) has details",
};

/**
 * The client reports a server it could not reach as NODE_UNAVAILABLE carrying the transport's
 * gRPC status; a server that answers NODE_UNAVAILABLE itself (one of its nodes is lost or does
 * not answer) sends its own details instead.
 */
export { isUnreachable };

/** `context.instanceId`, when known, fills the `<id>` in hints so they can be pasted as they are. */
export function failureFrom(error: unknown, context: { instanceId?: string } = {}): Failure {
  if (error instanceof UsageError) {
    return {
      exitCode: CLUSTER_EXIT.USAGE,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
  const failure = WasmatrixError.from(error);
  if (isUnreachable(failure)) {
    return { exitCode: CLUSTER_EXIT.UNAVAILABLE, message: failure.message, hint: UNREACHABLE_HINT };
  }
  const template = accessHint(failure) ?? HINTS[failure.code];
  const hint =
    template === undefined || context.instanceId === undefined
      ? template
      : template.replaceAll("<id>", context.instanceId);
  const reasons = reasonLines(failure.details);
  return {
    exitCode: CLUSTER_EXIT.FAILED,
    message: `${failure.message} (${failure.code})`,
    ...(reasons.length === 0 ? {} : { reasons }),
    ...(hint === undefined ? {} : { hint }),
  };
}

/** A placement refusal's `rejected` (node id → why it was passed over), one `node: reason` line each. */
function reasonLines(details: Readonly<Record<string, unknown>>): string[] {
  const rejected = details["rejected"];
  if (typeof rejected !== "object" || rejected === null || Array.isArray(rejected)) return [];
  return Object.entries(rejected)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([nodeId, reason]) => `${nodeId}: ${String(reason)}`);
}

export function formatFailure(failure: Failure): string {
  const reasons = (failure.reasons ?? []).map((line) => `  ${line}\n`).join("");
  return `error: ${failure.message}\n${reasons}${failure.hint === undefined ? "" : `hint: ${failure.hint}\n`}`;
}
