export * from "./abi.js";
export { Directory, type DirectoryOptions } from "./directory.js";
export * from "./gateway.js";
