import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/**
 * The HTTP handler ABI (docs/abi.md, "HTTP handlers"): what a guest's `http` operation receives
 * and answers. Length-prefixed binary, little-endian like WebAssembly itself, so bodies travel
 * as they are (no JSON, no base64) and a guest decodes it with a few loads.
 *
 *   request  = u8 version(1) · u8 len method · u32 len path · u32 len query ·
 *              u16 count { u16 len name · u32 len value } · u32 len body
 *   response = u16 status · u16 count { u16 len name · u32 len value } · u32 len body
 *
 * Names are lower-case header names; a header given several times appears several times.
 */
export const HTTP_ABI_VERSION = 1;

export interface HttpRequestMessage {
  method: string;
  path: string;
  /** Without the leading "?"; "" when none. */
  query: string;
  headers: [string, string][];
  body: Uint8Array;
}

export interface HttpResponseMessage {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: false });

class Writer {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  u8(v: number) {
    this.push(Uint8Array.of(v));
  }
  u16(v: number) {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.push(b);
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  bytes(b: Uint8Array) {
    this.push(b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
  private push(b: Uint8Array) {
    this.parts.push(b);
    this.size += b.byteLength;
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number) {
    if (this.at + n > this.buf.byteLength) throw malformed(`truncated at byte ${this.at}`);
  }
  u8() {
    this.need(1);
    return this.view.getUint8(this.at++);
  }
  u16() {
    this.need(2);
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  end() {
    if (this.at !== this.buf.byteLength)
      throw malformed(`${this.buf.byteLength - this.at} bytes after the body`);
  }
}

function malformed(why: string): WasmatrixError {
  return new WasmatrixError(ErrorCode.INVALID_REQUEST, `malformed HTTP handler message: ${why}`, {});
}

function writeHeaders(w: Writer, headers: [string, string][]) {
  if (headers.length > 0xffff) throw malformed("more than 65535 headers");
  w.u16(headers.length);
  for (const [name, value] of headers) {
    const n = utf8.encode(name);
    if (n.byteLength > 0xffff) throw malformed("a header name longer than 65535 bytes");
    w.u16(n.byteLength);
    w.bytes(n);
    const v = utf8.encode(value);
    w.u32(v.byteLength);
    w.bytes(v);
  }
}

function readHeaders(r: Reader): [string, string][] {
  const count = r.u16();
  const out: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const name = text.decode(r.bytes(r.u16()));
    out.push([name, text.decode(r.bytes(r.u32()))]);
  }
  return out;
}

export function encodeHttpRequest(request: HttpRequestMessage): Uint8Array {
  const w = new Writer();
  w.u8(HTTP_ABI_VERSION);
  const method = utf8.encode(request.method);
  if (method.byteLength > 0xff) throw malformed("a method longer than 255 bytes");
  w.u8(method.byteLength);
  w.bytes(method);
  for (const part of [request.path, request.query]) {
    const b = utf8.encode(part);
    w.u32(b.byteLength);
    w.bytes(b);
  }
  writeHeaders(w, request.headers);
  w.u32(request.body.byteLength);
  w.bytes(request.body);
  return w.finish();
}

export function decodeHttpRequest(bytes: Uint8Array): HttpRequestMessage {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== HTTP_ABI_VERSION) throw malformed(`version ${version}, expected ${HTTP_ABI_VERSION}`);
  const method = text.decode(r.bytes(r.u8()));
  const path = text.decode(r.bytes(r.u32()));
  const query = text.decode(r.bytes(r.u32()));
  const headers = readHeaders(r);
  const body = r.bytes(r.u32());
  r.end();
  return { method, path, query, headers, body };
}

export function encodeHttpResponse(response: HttpResponseMessage): Uint8Array {
  const w = new Writer();
  w.u16(response.status);
  writeHeaders(w, response.headers);
  w.u32(response.body.byteLength);
  w.bytes(response.body);
  return w.finish();
}

/** A guest's answer; INVALID_REQUEST when it does not decode or its status is not 100-599. */
export function decodeHttpResponse(bytes: Uint8Array): HttpResponseMessage {
  const r = new Reader(bytes);
  const status = r.u16();
  if (status < 100 || status > 599) throw malformed(`status ${status} is not an HTTP status`);
  const headers = readHeaders(r);
  const body = r.bytes(r.u32());
  r.end();
  return { status, headers, body };
}
