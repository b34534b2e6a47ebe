import { routeGrpcLog } from "@wasmatrix/proto";
import { Command } from "commander";
import { registerAudit } from "./commands/audit.js";
import { registerCaps } from "./commands/caps.js";
import { registerCerts } from "./commands/certs.js";
import { registerContext } from "./commands/context.js";
import { registerControlPlane } from "./commands/control-plane.js";
import { registerDeploy } from "./commands/deploy.js";
import { registerEvents } from "./commands/events.js";
import { registerGateway } from "./commands/gateway.js";
import { registerInfo } from "./commands/info.js";
import { registerInspect } from "./commands/inspect.js";
import { registerInvoke } from "./commands/invoke.js";
import { registerKeys } from "./commands/keys.js";
import { registerLogs } from "./commands/logs.js";
import { registerNodeAgent } from "./commands/node-agent.js";
import { registerNodes } from "./commands/nodes.js";
import { registerProvider } from "./commands/provider.js";
import { registerPs } from "./commands/ps.js";
import { registerRegistry } from "./commands/registry.js";
import { registerRoute } from "./commands/route.js";
import { registerRun } from "./commands/run.js";
import { registerSign } from "./commands/sign.js";
import { registerStart } from "./commands/start.js";
import { registerStop } from "./commands/stop.js";
import { registerToken } from "./commands/token.js";
import { registerTrigger } from "./commands/trigger.js";
import { registerUp } from "./commands/up.js";
import { CLUSTER_EXIT } from "./exit-codes.js";

// grpc-js's own console lines would come before (and repeat) the errors this command reports
// with a hint; they are kept for debugging. The daemons send them to their log instead.
routeGrpcLog((message) => {
  const level = process.env["WASMATRIX_LOG_LEVEL"];
  if (level === "debug" || level === "trace") process.stderr.write(`grpc-js: ${message}\n`);
});

const program = new Command()
  .name("wasmatrix")
  .description(
    "A Kubernetes-free orchestrator for WebAssembly: run modules, supervise instances, route capabilities",
  )
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  // Set before the subcommands are made, which inherit it: commander exits 1 on a usage error,
  // which scripts could not tell from a server's refusal, so usage errors exit 2.
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? CLUSTER_EXIT.OK : CLUSTER_EXIT.USAGE);
  })
  .addHelpText(
    "after",
    `
Getting started:
  wasmatrix up --example                        # a single-node cluster in this terminal
  wasmatrix ps                                  # in another one
  wasmatrix invoke echo upper --data hello
  wasmatrix run examples/build/hello.wasm       # or run a module directly, no server

Commands that talk to a server read its address from --server or WASMATRIX_SERVER (default
127.0.0.1:7400). Exit codes: 0 ok, 1 the server refused, 2 usage error, 69 no server answered;
\`run\` and \`invoke\` have their own for guest crashes (see their --help). Docs: docs/cli.md`,
  );

registerUp(program);
registerControlPlane(program);
registerNodeAgent(program);
registerGateway(program);
registerProvider(program);
registerStart(program);
registerStop(program);
registerPs(program);
registerInspect(program);
registerInvoke(program);
registerLogs(program);
registerEvents(program);
registerCaps(program);
registerRoute(program);
registerNodes(program);
registerTrigger(program);
registerInfo(program);
registerToken(program);
registerRun(program);
registerRegistry(program);
registerDeploy(program);
registerCerts(program);
registerContext(program);
registerKeys(program);
registerSign(program);
registerAudit(program);

await program.parseAsync(process.argv);
