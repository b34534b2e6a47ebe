/**
 * A small certificate authority for a wasmatrix cluster: one CA, and certificates whose subject
 * alternative name (a URI) says what their holder is (`node:<id>`, `provider:<id>`,
 * `control-plane:`, `client:<name>`). Made with @peculiar/x509 over Node's WebCrypto, so nothing
 * shells out to openssl; tests use it for throwaway CAs.
 */
import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import {
  type CertificateIdentity,
  ErrorCode,
  formatCertificateIdentity,
  parseCertificateIdentity,
  WasmatrixError,
} from "@wasmatrix/core";

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 365;
/** Extended key usage OIDs: TLS server and TLS client authentication. */
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export interface IssuedFiles {
  cert: string;
  key: string;
}

/** The file name (without extension) a certificate for `identity` is written under. */
export function certificateBaseName(identity: CertificateIdentity): string {
  switch (identity.kind) {
    case "node":
      return `node-${identity.id}`;
    case "provider":
      return `provider-${identity.id}`;
    case "control-plane":
      return "control-plane";
    case "client":
      return `client-${identity.name}`;
  }
}

async function writeKey(path: string, pem: string): Promise<void> {
  // mode on create, and chmod for a file that already existed with a looser mode.
  await writeFile(path, pem, { mode: 0o600 });
  await chmod(path, 0o600);
}

function keyPem(pkcs8: ArrayBuffer): string {
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

/** Writes a new CA to `dir/ca.crt` and `dir/ca.key`; refuses to replace one (every issued certificate would stop working). */
export async function initAuthority(
  dir: string,
  options: { days?: number; name?: string } = {},
): Promise<IssuedFiles> {
  const files = { cert: join(dir, "ca.crt"), key: join(dir, "ca.key") };
  if ((await exists(files.cert)) || (await exists(files.key))) {
    throw new WasmatrixError(
      ErrorCode.ALREADY_EXISTS,
      `${dir} already holds a CA (ca.crt/ca.key); replacing it would invalidate every certificate it issued. Use another --dir, or delete them first`,
      { dir },
    );
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${options.name ?? "wasmatrix CA"}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (options.days ?? DEFAULT_CA_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeKey(files.key, keyPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
  await writeFile(files.cert, cert.toString("pem"));
  return files;
}

async function loadAuthority(dir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  let certPem: string;
  let keyText: string;
  try {
    certPem = await readFile(join(dir, "ca.crt"), "utf8");
    keyText = await readFile(join(dir, "ca.key"), "utf8");
  } catch {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `no CA in ${dir} (ca.crt and ca.key); create one with \`wasmatrix certs init --dir ${dir}\``,
      { dir },
    );
  }
  const key = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(keyText),
    KEY_ALGORITHM,
    false,
    ["sign"],
  );
  return { cert: new x509.X509Certificate(certPem), key };
}

export interface IssueOptions {
  days?: number;
  /** More DNS names or IP addresses a server certificate is valid for (beside localhost and 127.0.0.1). */
  hosts?: string[];
}

/**
 * Issues `dir/<name>.crt` and `.key` for `identity`, signed by the CA in `dir`. Everything but a
 * client certificate is also a server's (node agents, providers and control planes listen), so
 * it names localhost, 127.0.0.1 and `hosts`.
 */
export async function issueCertificate(
  dir: string,
  identity: CertificateIdentity,
  options: IssueOptions = {},
): Promise<IssuedFiles> {
  const uri = formatCertificateIdentity(identity);
  if (!sameIdentity(parseCertificateIdentity(uri), identity)) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `'${uri}' is not a valid certificate identity: ids and names may not contain spaces or '/'`,
      { identity: uri },
    );
  }
  const ca = await loadAuthority(dir);
  const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const server = identity.kind !== "client";
  const names: x509.JsonGeneralName[] = [{ type: "url", value: uri }];
  if (server) {
    for (const host of ["localhost", "127.0.0.1", ...(options.hosts ?? [])]) {
      names.push({ type: isIP(host) ? "ip" : "dns", value: host });
    }
  }
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${uri.replace(/:$/, "")}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (options.days ?? DEFAULT_CERT_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(server ? [SERVER_AUTH, CLIENT_AUTH] : [CLIENT_AUTH]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const base = join(dir, certificateBaseName(identity));
  const files = { cert: `${base}.crt`, key: `${base}.key` };
  await writeKey(files.key, keyPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
  await writeFile(files.cert, cert.toString("pem"));
  return files;
}

function sameIdentity(a: CertificateIdentity | undefined, b: CertificateIdentity): boolean {
  return a !== undefined && formatCertificateIdentity(a) === formatCertificateIdentity(b);
}

export interface CertificateSummary {
  file: string;
  subject: string;
  /** The wasmatrix identity in the SAN, e.g. `node:n1`; absent for the CA. */
  identity?: string;
  /** The other names it serves under (DNS, IP). */
  hosts: string[];
  notAfter: string;
  expired: boolean;
  /** Whether the CA in the directory signed it. */
  issuedByCa: boolean;
}

export interface AuthorityListing {
  dir: string;
  /** SHA-256 of the CA certificate's DER, hex with colons, as `openssl x509 -fingerprint -sha256` shows it. */
  caFingerprint: string;
  ca: CertificateSummary;
  certificates: CertificateSummary[];
}

/** The CA in `dir` and every certificate (`*.crt`) beside it. */
export async function listAuthority(dir: string): Promise<AuthorityListing> {
  const ca = await loadAuthority(dir);
  const files = (await readdir(dir)).filter((f) => f.endsWith(".crt") && f !== "ca.crt").sort();
  const certificates: CertificateSummary[] = [];
  for (const file of files) {
    const cert = new x509.X509Certificate(await readFile(join(dir, file), "utf8"));
    certificates.push(await summarize(file, cert, ca.cert));
  }
  return {
    dir,
    caFingerprint: fingerprint(ca.cert),
    ca: await summarize("ca.crt", ca.cert, ca.cert),
    certificates,
  };
}

async function summarize(
  file: string,
  cert: x509.X509Certificate,
  ca: x509.X509Certificate,
): Promise<CertificateSummary> {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const identity = names.find((n) => n.type === "url")?.value;
  const issuedByCa =
    cert.issuer === ca.subject && (await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }));
  return {
    file,
    subject: cert.subject,
    ...(identity === undefined ? {} : { identity: identity.replace(/:$/, "") }),
    hosts: names.filter((n) => n.type === "dns" || n.type === "ip").map((n) => n.value),
    notAfter: cert.notAfter.toISOString(),
    expired: cert.notAfter.getTime() < Date.now(),
    issuedByCa,
  };
}

function fingerprint(cert: x509.X509Certificate): string {
  const hex = createHash("sha256").update(Buffer.from(cert.rawData)).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}
