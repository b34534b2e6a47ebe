import type { Declarations } from "./declarations.js";
import type { ExpressionRewriter, IndexPlan } from "./expression.js";

/** What the section rewriters share for one module. */
export interface RewriteContext {
  readonly bytes: Uint8Array;
  readonly decl: Declarations;
  readonly plan: IndexPlan;
  readonly expression: ExpressionRewriter;
}

/** The index a function has after the instrumenter's imports were appended to the imports. */
export function shiftFunction(plan: IndexPlan, index: number): number {
  return index >= plan.importedFunctions ? index + plan.functionShift : index;
}
