import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Client,
  credentials,
  Metadata,
  type MethodDefinition,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import type { Caller, Role } from "@wasmatrix/core";
import { createEmbedded, type Embedded } from "@wasmatrix/embedded";
import * as pb from "@wasmatrix/proto";

/** A `wasmatrix up --auth` on 127.0.0.1 with its state in a temporary directory. */
export interface AuthServer {
  readonly embedded: Embedded;
  readonly address: string;
  readonly stateDir: string;
  readonly adminToken: string;
  /** A token of that role and tenant, issued once and reused. */
  token(role: Role, tenant?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startAuthServer(): Promise<AuthServer> {
  const stateDir = await mkdtemp(join(tmpdir(), "wasmatrix-auth-"));
  const embedded = await createEmbedded({
    nodeId: "solo",
    node: { runtime: { workers: 1 } },
    auth: { stateDir },
  });
  const server = await embedded.serve("127.0.0.1:0");
  const adminToken = (await readFile(embedded.tokens!.adminTokenPath!, "utf8")).trim();
  const issued = new Map<string, string>();
  return {
    embedded,
    address: server.address,
    stateDir,
    adminToken,
    async token(role, tenant) {
      const key = `${role}/${tenant ?? ""}`;
      let token = issued.get(key);
      if (token === undefined) {
        token = (await embedded.tokens!.issue({ role, ...(tenant === undefined ? {} : { tenant }) })).token;
        issued.set(key, token);
      }
      return token;
    },
    async close() {
      await embedded.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Every RPC of the three services, from the generated definitions: what the access table must cover. */
export const SERVICES = {
  ControlPlane: pb.ControlPlaneService,
  NodeAgent: pb.NodeAgentService,
  CapabilityProvider: pb.CapabilityProviderService,
} as const;

export function allMethods(): MethodDefinition<unknown, unknown>[] {
  return Object.values(SERVICES).flatMap(
    (service) => Object.values(service) as unknown as MethodDefinition<unknown, unknown>[],
  );
}

export interface Answer {
  code: number;
  wasmatrixCode?: string;
  details: Record<string, unknown>;
}

/**
 * One raw call of any method: `body` is a request object (serialised by the method) or raw
 * bytes sent as they are. Streams are read to their end or their status.
 */
export function rawCall(
  address: string,
  method: MethodDefinition<unknown, unknown>,
  body: unknown,
  token: string | undefined,
  timeoutMs = 15_000,
): Promise<Answer> {
  const client = new Client(address, credentials.createInsecure());
  const metadata = new Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  const serialize = body instanceof Buffer ? (b: Buffer) => b : method.requestSerialize;
  const options = { deadline: Date.now() + timeoutMs };
  return new Promise<Answer>((resolve) => {
    const done = (error: ServiceError | null) => {
      client.close();
      resolve(answerOf(error));
    };
    if (method.responseStream) {
      const stream = client.makeServerStreamRequest(
        method.path,
        serialize as (v: unknown) => Buffer,
        method.responseDeserialize,
        body,
        metadata,
        options,
      );
      stream.on("data", () => undefined);
      stream.on("error", (e: ServiceError) => done(e));
      stream.on("status", (s) => {
        if (s.code === status.OK) done(null);
      });
    } else {
      client.makeUnaryRequest(
        method.path,
        serialize as (v: unknown) => Buffer,
        method.responseDeserialize,
        body,
        metadata,
        options,
        (error) => done(error),
      );
    }
  });
}

function answerOf(error: ServiceError | null): Answer {
  if (error === null) return { code: status.OK, details: {} };
  const code = error.metadata?.get(pb.CODE_METADATA_KEY)[0];
  const raw = error.metadata?.get(pb.DETAILS_METADATA_KEY)[0];
  let details: Record<string, unknown> = {};
  try {
    if (raw !== undefined)
      details = JSON.parse(Buffer.from(raw as Buffer).toString()) as Record<string, unknown>;
  } catch {
    // Garbage details are the test's to notice through the code.
  }
  return { code: error.code, ...(typeof code === "string" ? { wasmatrixCode: code } : {}), details };
}

/** An answer of the access table (it names the RPC), as opposed to one of the handler. */
export const isAccessRefusal = (answer: Answer): boolean =>
  answer.code === status.UNAUTHENTICATED ||
  (answer.code === status.PERMISSION_DENIED && typeof answer.details["rpc"] === "string");

export type { Caller };
