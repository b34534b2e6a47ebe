import { HttpProvider, type HttpProviderOptions } from "./http.js";
import { JetStreamKeyvalueProvider } from "./jetstream-keyvalue.js";
import { MemoryKeyvalueProvider } from "./keyvalue.js";
import { InProcessBus } from "./memory-bus.js";
import { MessagingProvider } from "./messaging.js";
import { NatsLink } from "./nats-link.js";
import type { CapabilityProvider } from "./provider.js";

export interface ProviderSet {
  providers: CapabilityProvider[];
  /** Closes what the providers share (the NATS connection); call after the node has closed them. */
  close(): Promise<void>;
}

/**
 * The providers a node serves locally. Without NATS: in-memory keyvalue, the HTTP client and,
 * when asked, messaging on an in-process bus.
 * With `nats` (a URL or several, comma-separated): keyvalue on JetStream, so its data outlives
 * the process, messaging, and the HTTP client, all over one shared connection.
 */
export function localProviders(
  options: {
    nats?: string;
    http?: HttpProviderOptions;
    name?: string;
    /**
     * Without NATS, serve messaging on an in-process bus (`wasmatrix up`: one process, so the bus
     * reaches everything). Off for node agents of a cluster, where it would reach only one node.
     */
    inProcessBus?: boolean;
  } = {},
): ProviderSet {
  const http = new HttpProvider(options.http);
  if (options.nats === undefined || options.nats === "") {
    // Messaging without NATS: an in-process bus, so subscriptions and queue triggers work in `up`.
    if (options.inProcessBus !== true) {
      return { providers: [new MemoryKeyvalueProvider(), http], close: async () => undefined };
    }
    const bus = new InProcessBus();
    return { providers: [new MemoryKeyvalueProvider(), http, bus], close: () => bus.close() };
  }
  const link = new NatsLink({ servers: options.nats.split(","), name: options.name ?? "wasmatrix" });
  return {
    providers: [new JetStreamKeyvalueProvider({ link }), http, new MessagingProvider({ link })],
    close: () => link.close(),
  };
}
