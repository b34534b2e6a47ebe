export * from "./client.js";
export * from "./requests.js";
