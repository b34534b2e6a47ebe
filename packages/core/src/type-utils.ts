/** Omit over each member of a union, so that each member keeps its own fields tied together. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
