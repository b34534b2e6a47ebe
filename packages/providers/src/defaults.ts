import { HttpProvider, type HttpProviderOptions } from "./http.js";
import { JetStreamKeyvalueProvider } from "./jetstream-keyvalue.js";
import { MemoryKeyvalueProvider } from "./keyvalue.js";
import { MessagingProvider } from "./messaging.js";
import { NatsLink } from "./nats-link.js";
import type { CapabilityProvider } from "./provider.js";

export interface ProviderSet {
  providers: CapabilityProvider[];
  /** Closes what the providers share (the NATS connection); call after the node has closed them. */
  close(): Promise<void>;
}

/**
 * The providers a node serves locally. Without NATS: in-memory keyvalue and the HTTP client.
 * With `nats` (a URL or several, comma-separated): keyvalue on JetStream, so its data outlives
 * the process, messaging, and the HTTP client, all over one shared connection.
 */
export function localProviders(
  options: { nats?: string; http?: HttpProviderOptions; name?: string } = {},
): ProviderSet {
  const http = new HttpProvider(options.http);
  if (options.nats === undefined || options.nats === "") {
    return { providers: [new MemoryKeyvalueProvider(), http], close: async () => undefined };
  }
  const link = new NatsLink({ servers: options.nats.split(","), name: options.name ?? "wasmatrix" });
  return {
    providers: [new JetStreamKeyvalueProvider({ link }), http, new MessagingProvider({ link })],
    close: () => link.close(),
  };
}
