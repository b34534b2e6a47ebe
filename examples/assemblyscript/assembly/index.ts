/**
 * An AssemblyScript waPC reactor: echo, reverse, and a counter kept by the keyvalue capability.
 *
 *   wasmatrix run examples/build/as_reactor.wasm --invoke reverse --data 'hello'
 */
import { HttpRequest, httpResponse } from "./http";
import { handle, kvIncrement, Result } from "./wasmatrix";

export { __guest_call } from "./wasmatrix";

handle("echo", (payload: Uint8Array): Result => Result.ok(payload));

// Reverses by UTF-16 code unit, after decoding: reversing the UTF-8 bytes would scramble any
// multi-byte character. (Surrogate pairs still come out swapped; fine for an example.)
handle("reverse", (payload: Uint8Array): Result => {
  const text = String.UTF8.decodeUnsafe(payload.dataStart, payload.byteLength);
  let reversed = "";
  for (let i = text.length - 1; i >= 0; i--) reversed += text.charAt(i);
  return Result.text(reversed);
});

// The host's error JSON becomes the guest error unchanged, so a caller without a keyvalue
// assignment sees the host's own code (CAPABILITY_NOT_ASSIGNED, PERMISSION_DENIED).
handle("kv_counter", (_payload: Uint8Array): Result => {
  const result = kvIncrement("counter", 1);
  return result.ok ? Result.ok(result.data) : Result.error(result.text);
});

// An HTTP handler for the gateway (docs/gateway.md): `<METHOD> <path>` and the body, echoed.
handle("http", (payload: Uint8Array): Result => {
  const req = HttpRequest.parse(payload);
  if (req == null) return Result.error("malformed HTTP request");
  const head = String.UTF8.encode(req.method + " " + req.path + "\n");
  const body = new Uint8Array(head.byteLength + req.body.byteLength);
  body.set(Uint8Array.wrap(head), 0);
  body.set(req.body, head.byteLength);
  return httpResponse(200, ["content-type", "text/plain; charset=utf-8", "x-guest", "assemblyscript"], body);
});
