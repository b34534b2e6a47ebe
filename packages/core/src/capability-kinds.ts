/**
 * The kinds of capability a guest can be given. A file of its own because both capabilities.ts
 * (assignments) and permissions.ts (what each permission grants) name them.
 */
export const CAPABILITY_KINDS = ["keyvalue", "http", "messaging", "logging", "filesystem"] as const;
export type CapabilityKind = (typeof CAPABILITY_KINDS)[number];

/** Capabilities a provider process can serve; logging is always served inside the node. */
export const PROVIDED_CAPABILITY_KINDS = [
  "keyvalue",
  "http",
  "messaging",
] as const satisfies readonly CapabilityKind[];
export type ProvidedCapabilityKind = (typeof PROVIDED_CAPABILITY_KINDS)[number];

export function isProvidedCapabilityKind(value: unknown): value is ProvidedCapabilityKind {
  return typeof value === "string" && (PROVIDED_CAPABILITY_KINDS as readonly string[]).includes(value);
}
