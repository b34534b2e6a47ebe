export * from "./artifact.js";
export * from "./credentials.js";
export * from "./reference.js";
export * from "./registry.js";
