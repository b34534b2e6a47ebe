export * from "./revocations.js";
export * from "./state-files.js";
export * from "./token-access.js";
export * from "./token-authority.js";
