import type { Declarations } from "./declarations.js";
import { invalidModule } from "./errors.js";
import type { ExpressionRewriter, IndexPlan } from "./expression.js";

/** What the section rewriters share for one module. */
export interface RewriteContext {
  readonly bytes: Uint8Array;
  readonly decl: Declarations;
  readonly plan: IndexPlan;
  readonly expression: ExpressionRewriter;
}

/**
 * The index a function has after the instrumenter's imports were appended to the imports. An
 * index past the module's functions is refused: shifting it could wrap around or alias another.
 */
export function shiftFunction(plan: IndexPlan, index: number, at: number): number {
  if (index >= plan.totalFunctions) {
    throw invalidModule(
      `function index ${index} is out of range (the module has ${plan.totalFunctions} functions)`,
      at,
    );
  }
  return index >= plan.importedFunctions ? index + plan.functionShift : index;
}
