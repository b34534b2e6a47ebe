import { invalidModule } from "./errors.js";

/** Indices the rewrite needs, fixed for a module. */
export interface IndexPlan {
  /** Functions imported by the original module: indices below this do not move. */
  importedFunctions: number;
  /** Functions of the original module, imported and defined. */
  totalFunctions: number;
  /** How far defined functions move: the number of imports the instrumenter adds. */
  functionShift: number;
  fuelFunction: number;
  growFunction: number;
  fuelGlobal: number;
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
