// wasmatrix as a library: a whole single-node cluster in this process, one instance started
// from bytes, one invocation. Runs as it is with `node embedded.mjs` in a project that has
// @wasmatrix/embedded and @wasmatrix/client installed (test/e2e/packaging.test.ts does just that).
import { invokeRequest, startRequest } from "@wasmatrix/client";
import { createEmbedded } from "@wasmatrix/embedded";

// A waPC reactor that answers every operation with its payload (128 bytes, from this WAT):
//   (module
//     (import "wapc" "__guest_request" (func $request (param i32 i32)))
//     (import "wapc" "__guest_response" (func $response (param i32 i32)))
//     (memory (export "memory") 1)
//     (func (export "__guest_call") (param $op_len i32) (param $payload_len i32) (result i32)
//       (call $request (i32.const 0) (local.get $op_len))
//       (call $response (local.get $op_len) (local.get $payload_len))
//       (i32.const 1)))
// Any module from examples/build works the same way: `module: await readFile("echo_reactor.wasm")`.
const wasmBytes = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 12, 2, 96, 2, 127, 127, 0, 96, 2, 127, 127, 1, 127, 2, 48, 2, 4, 119, 97,
  112, 99, 15, 95, 95, 103, 117, 101, 115, 116, 95, 114, 101, 113, 117, 101, 115, 116, 0, 0, 4, 119, 97, 112,
  99, 16, 95, 95, 103, 117, 101, 115, 116, 95, 114, 101, 115, 112, 111, 110, 115, 101, 0, 0, 3, 2, 1, 1, 5, 3,
  1, 0, 1, 7, 25, 2, 6, 109, 101, 109, 111, 114, 121, 2, 0, 12, 95, 95, 103, 117, 101, 115, 116, 95, 99, 97,
  108, 108, 0, 2, 10, 18, 1, 16, 0, 65, 0, 32, 0, 16, 0, 32, 0, 32, 1, 16, 1, 65, 1, 11,
]);

const cluster = await createEmbedded();
try {
  await cluster.client.startInstance(startRequest({ instanceId: "echo", module: wasmBytes }));
  const { response } = await cluster.client.invoke(invokeRequest("echo", "echo", "hello from wasm"));
  console.log(new TextDecoder().decode(response)); // hello from wasm
} finally {
  await cluster.close();
}
