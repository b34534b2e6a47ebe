#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader, registered from this package so it works from
// any directory.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
