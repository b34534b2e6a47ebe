/**
 * The kinds of capability a guest can be given. A file of its own because both capabilities.ts
 * (assignments) and permissions.ts (what each permission grants) name them.
 */
export const CAPABILITY_KINDS = ["keyvalue", "http", "messaging", "logging"] as const;
export type CapabilityKind = (typeof CAPABILITY_KINDS)[number];
