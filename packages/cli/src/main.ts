import { Command } from "commander";
import { registerRun } from "./commands/run.js";

const program = new Command()
  .name("wasmatrix")
  .description(
    "A Kubernetes-free orchestrator for WebAssembly: run modules, supervise instances, route capabilities",
  )
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)");

registerRun(program);

await program.parseAsync(process.argv);
