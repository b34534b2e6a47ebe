/**
 * HTTP handlers for AssemblyScript guests: the gateway's request in, the answer out, in the
 * length-prefixed little-endian encoding of docs/abi.md ("HTTP handlers").
 *
 *   import { handle, Result } from "./wasmatrix";
 *   import { HttpRequest, httpResponse } from "./http";
 *   handle("http", (payload: Uint8Array): Result => {
 *     const req = HttpRequest.parse(payload);
 *     if (req == null) return Result.error("malformed HTTP request");
 *     return httpResponse(200, ["content-type", "text/plain"], String.UTF8.encode(req.path));
 *   });
 */
import { Result } from "./wasmatrix";

function text(bytes: Uint8Array, at: i32, len: i32): string {
  return String.UTF8.decodeUnsafe(bytes.dataStart + <usize>at, <usize>len);
}

export class HttpRequest {
  method: string = "";
  path: string = "";
  /** Without the leading "?". */
  query: string = "";
  /** Lower-case names and values, in order; a repeated header appears again. */
  headerNames: string[] = [];
  headerValues: string[] = [];
  body: Uint8Array = new Uint8Array(0);

  /** The first value of `name` (lower case), or null. */
  header(name: string): string | null {
    for (let i = 0; i < this.headerNames.length; i++) if (this.headerNames[i] == name) return this.headerValues[i];
    return null;
  }

  /** Null when the payload is malformed. */
  static parse(p: Uint8Array): HttpRequest | null {
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const n = p.byteLength;
    if (n < 1 || p[0] != 1) return null;
    let at = 1;
    const req = new HttpRequest();
    if (at + 1 > n) return null;
    let len = <i32>p[at];
    at += 1;
    if (at + len > n) return null;
    req.method = text(p, at, len);
    at += len;
    for (let field = 0; field < 2; field++) {
      if (at + 4 > n) return null;
      len = <i32>view.getUint32(at, true);
      at += 4;
      if (len < 0 || at + len > n) return null;
      if (field == 0) req.path = text(p, at, len);
      else req.query = text(p, at, len);
      at += len;
    }
    if (at + 2 > n) return null;
    const count = <i32>view.getUint16(at, true);
    at += 2;
    for (let i = 0; i < count; i++) {
      if (at + 2 > n) return null;
      len = <i32>view.getUint16(at, true);
      at += 2;
      if (at + len > n) return null;
      req.headerNames.push(text(p, at, len));
      at += len;
      if (at + 4 > n) return null;
      len = <i32>view.getUint32(at, true);
      at += 4;
      if (len < 0 || at + len > n) return null;
      req.headerValues.push(text(p, at, len));
      at += len;
    }
    if (at + 4 > n) return null;
    len = <i32>view.getUint32(at, true);
    at += 4;
    if (len < 0 || at + len != n) return null;
    req.body = p.slice(at, at + len);
    return req;
  }
}

/** The answer of an HTTP handler: `headers` alternates names and values. */
export function httpResponse(status: i32, headers: string[], body: Uint8Array): Result {
  const encoded: ArrayBuffer[] = [];
  let size = 2 + 2 + 4 + body.byteLength;
  for (let i = 0; i < headers.length; i++) {
    const b = String.UTF8.encode(headers[i]);
    encoded.push(b);
    size += (i % 2 == 0 ? 2 : 4) + b.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, <u16>status, true);
  view.setUint16(2, <u16>(headers.length / 2), true);
  let at = 4;
  for (let i = 0; i < encoded.length; i++) {
    const b = Uint8Array.wrap(encoded[i]);
    if (i % 2 == 0) {
      view.setUint16(at, <u16>b.byteLength, true);
      at += 2;
    } else {
      view.setUint32(at, <u32>b.byteLength, true);
      at += 4;
    }
    out.set(b, at);
    at += b.byteLength;
  }
  view.setUint32(at, <u32>body.byteLength, true);
  out.set(body, at + 4);
  return Result.ok(out);
}
