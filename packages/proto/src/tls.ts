/**
 * Mutual TLS between wasmatrix processes: every server with TLS requires a client certificate
 * signed by its CA, every dialer presents its own, and the identity a verified certificate
 * names (its SAN URI, caller.ts) is what the identity rules (core identity-rules.ts) judge.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { ChannelCredentials, ServerCredentials } from "@grpc/grpc-js";
import {
  type Caller,
  type CertificateIdentity,
  ErrorCode,
  formatCertificateIdentity,
  parseCertificateIdentity,
  WasmatrixError,
} from "@wasmatrix/core";

/** What grpc-js's server calls offer (its AuthContext type is not exported from the package root). */
interface AuthenticatedCall {
  getAuthContext(): { sslPeerCertificate?: { subjectaltname?: string } } | null;
}

/** Paths of the PEM files, as given by --tls-ca/--tls-cert/--tls-key or WASMATRIX_TLS_CA/_CERT/_KEY. */
export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** The loaded PEM bytes: the CA that peers' certificates must chain to, and this process's own pair. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Flags win over the environment, file by file. */
export function tlsFilesFrom(flags: TlsFiles, env: NodeJS.ProcessEnv = process.env): TlsFiles {
  return {
    ca: flags.ca ?? env["WASMATRIX_TLS_CA"],
    cert: flags.cert ?? env["WASMATRIX_TLS_CERT"],
    key: flags.key ?? env["WASMATRIX_TLS_KEY"],
  };
}

/**
 * Reads the three files; undefined when none is named. Naming only some is refused: a process
 * that meant to use TLS must not quietly run without it.
 */
export function loadTls(files: TlsFiles): TlsMaterial | undefined {
  const given = (["ca", "cert", "key"] as const).filter((k) => files[k] !== undefined && files[k] !== "");
  if (given.length === 0) return undefined;
  if (given.length < 3) {
    const missing = (["ca", "cert", "key"] as const).filter((k) => !given.includes(k));
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `TLS needs all of --tls-ca, --tls-cert and --tls-key; missing ${missing.map((k) => `--tls-${k}`).join(", ")}. ` +
        "`wasmatrix certs init` and `certs issue` make them",
      { missing },
    );
  }
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new WasmatrixError(
        ErrorCode.INVALID_REQUEST,
        `cannot read the TLS ${what} ${path}: ${(error as Error).message}`,
        { path },
      );
    }
  };
  return { ca: read("CA", files.ca!), cert: read("certificate", files.cert!), key: read("key", files.key!) };
}

/**
 * The identity this process's own certificate names, so that a node or provider takes its id
 * from it rather than being told one it could not prove.
 */
export function ownIdentity(tls: TlsMaterial): CertificateIdentity | undefined {
  return identityFromSubjectAltName(new X509Certificate(tls.cert).subjectAltName);
}

/**
 * The id a node or provider runs as over TLS: its certificate's; one given as well must agree.
 */
export function idFromCertificate(
  tls: TlsMaterial | undefined,
  kind: "node" | "provider",
  given: string | undefined,
): string | undefined {
  if (tls === undefined) return given;
  const own = ownIdentity(tls);
  if (own?.kind !== kind) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `a ${kind} needs a ${kind} certificate (issue one with \`wasmatrix certs issue --${kind} ID\`); --tls-cert names ${own === undefined ? "no wasmatrix identity" : formatCertificateIdentity(own)}`,
    );
  }
  if (given !== undefined && given !== own.id) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `the ${kind} id '${given}' differs from the one its certificate names ('${own.id}'); drop the id flag or use that ${kind}'s certificate`,
    );
  }
  return own.id;
}

/**
 * grpc-js passes the dialled host as the TLS server name even when it is an IP address, which
 * Node answers with a DEP0123 warning on stderr for every channel: noise in every CLI command
 * run against 127.0.0.1. The certificate is still checked against the IP (checkServerIdentity).
 */
let ipServerNameWarningQuieted = false;
function quietIpServerNameWarning(): void {
  if (ipServerNameWarningQuieted) return;
  ipServerNameWarningQuieted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code =
      typeof rest[0] === "object" && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === "DEP0123") return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Insecure without material; with it, TLS that requires and verifies a client certificate. */
export function serverCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
}

/**
 * Insecure without material; with it, TLS that verifies the server against the CA and presents
 * this process's certificate. With `peer`, the server must also hold that identity's certificate
 * (a node at a registered address must be that node, not any holder of a cluster certificate).
 */
export function channelCredentials(
  tls: TlsMaterial | undefined,
  peer?: CertificateIdentity,
): ChannelCredentials {
  if (tls === undefined) return ChannelCredentials.createInsecure();
  quietIpServerNameWarning();
  if (peer === undefined) return ChannelCredentials.createSsl(tls.ca, tls.key, tls.cert);
  const expected = formatCertificateIdentity(peer);
  return ChannelCredentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity(hostname: string, cert: PeerCertificate) {
      const hostError = checkServerIdentity(hostname, cert);
      if (hostError !== undefined) return hostError;
      const actual = identityFromSubjectAltName(cert.subjectaltname);
      if (actual === undefined || formatCertificateIdentity(actual) !== expected) {
        return new Error(`the server at ${hostname} is not ${expected.replace(/:$/, "")}`);
      }
      return undefined;
    },
  });
}

/**
 * The wasmatrix identity in a certificate's `subjectaltname` as Node's TLS reports it
 * ("URI:node:n1, DNS:localhost, IP Address:127.0.0.1"; entries with special characters are
 * JSON-quoted). A certificate naming two identities names none: which one would it be?
 */
export function identityFromSubjectAltName(
  subjectAltName: string | undefined,
): CertificateIdentity | undefined {
  if (subjectAltName === undefined) return undefined;
  const identities: CertificateIdentity[] = [];
  for (const entry of splitSubjectAltName(subjectAltName)) {
    if (!entry.startsWith("URI:")) continue;
    let value = entry.slice("URI:".length);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        return undefined;
      }
    }
    const identity = parseCertificateIdentity(value);
    if (identity !== undefined) identities.push(identity);
  }
  return identities.length === 1 ? identities[0] : undefined;
}

function splitSubjectAltName(text: string): string[] {
  const entries: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === "\\") {
      current += c + (text[++i] ?? "");
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && c === "," && text[i + 1] === " ") {
      entries.push(current);
      current = "";
      i++;
      continue;
    }
    current += c;
  }
  entries.push(current);
  return entries;
}

/**
 * The identity of a call's verified peer certificate. grpc-js reports a certificate only when
 * the TLS handshake verified it against the server's CA; a plain connection has none.
 */
export function certificateIdentityOf(call: AuthenticatedCall): CertificateIdentity | undefined {
  // The admission and the handler both ask; grpc-js builds the whole peer certificate object
  // afresh on every getAuthContext(), so each call reads it once.
  if (identities.has(call)) return identities.get(call);
  const peer = call.getAuthContext()?.sslPeerCertificate;
  const identity = identityFromSubjectAltName(peer?.subjectaltname);
  identities.set(call, identity);
  return identity;
}

const identities = new WeakMap<AuthenticatedCall, CertificateIdentity | undefined>();

/** The per-call Caller as far as the transport tells it. */
export function callerOf(call: AuthenticatedCall): Caller {
  const certificate = certificateIdentityOf(call);
  return certificate === undefined ? {} : { certificate };
}
