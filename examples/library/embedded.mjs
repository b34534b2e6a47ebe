// wasmatrix as a library: a whole single-node cluster in this process, one instance started
// from bytes, one invocation. Runs as it is with `node embedded.mjs` in a project that has
// @wasmatrix/embedded and @wasmatrix/client installed (test/e2e/packaging.test.ts does just that);
// the README shows this file from its first import on.
//
// The module is a waPC reactor that answers every operation with its payload, 128 bytes from:
//   (module
//     (import "wapc" "__guest_request" (func $request (param i32 i32)))
//     (import "wapc" "__guest_response" (func $response (param i32 i32)))
//     (memory (export "memory") 1)
//     (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
//       (call $request (i32.const 0) (local.get $op_len))
//       (call $response (local.get $op_len) (local.get $payload_len))
//       (i32.const 1)))
// Any module from examples/build works the same way: `module: await readFile("echo_reactor.wasm")`.
import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded } from "@wasmatrix/embedded";

const wasmBytes = Buffer.from(
  "AGFzbQEAAAABDAJgAn9/AGACf38BfwIwAgR3YXBjD19fZ3Vlc3RfcmVxdWVzdAAABHdhcGMQX19ndWVzdF9yZXNwb25zZQAAAwIBAQUDAQABBxkCBm1lbW9yeQIADF9fZ3Vlc3RfY2FsbAACChIBEABBACAAEAAgACABEAFBAQs=",
  "base64",
);

const cluster = await createEmbedded();
try {
  await cluster.client.startInstance(startRequest({ instanceId: "echo", module: wasmBytes }));
  const { response } = await cluster.client.invoke(invokeRequest("echo", "echo", "hello from wasm"));
  console.log(new TextDecoder().decode(response)); // hello from wasm
} finally {
  await cluster.close();
}
