import type { Declarations } from "./declarations.js";
import type { ExpressionRewriter } from "./expression.js";
import type { IndexPlan } from "./index-plan.js";

export { shiftFunction } from "./index-plan.js";

/** What the section rewriters share for one module. */
export interface RewriteContext {
  readonly bytes: Uint8Array;
  readonly decl: Declarations;
  readonly plan: IndexPlan;
  readonly expression: ExpressionRewriter;
}
