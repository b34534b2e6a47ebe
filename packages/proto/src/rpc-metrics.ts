import {
  InterceptingCall,
  type Interceptor,
  ServerInterceptingCall,
  type ServerInterceptor,
  status,
} from "@grpc/grpc-js";
import type { Metrics } from "@wasmatrix/core";

/** `OK`, `NOT_FOUND`…: the status's name, a bounded label. */
function codeName(code: number): string {
  return status[code] ?? "UNKNOWN";
}

/**
 * Times every call a server answers, from its arrival to its status. Streams count when they
 * end, so a `WatchEvents` that runs an hour is one hour-long observation.
 */
export function serverMetricsInterceptor(metrics: Metrics): ServerInterceptor {
  return (method, call) => {
    const began = performance.now();
    return new ServerInterceptingCall(call, {
      sendStatus(sent, next) {
        metrics.rpc("server", method.path, codeName(sent.code), (performance.now() - began) / 1000);
        next(sent);
      },
    });
  };
}

/** Times every call a client makes, from its start to the status it receives. */
export function clientMetricsInterceptor(metrics: Metrics): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        const began = performance.now();
        next(metadata, {
          onReceiveStatus(received, nextStatus) {
            metrics.rpc(
              "client",
              options.method_definition.path,
              codeName(received.code),
              (performance.now() - began) / 1000,
            );
            nextStatus(received);
          },
        });
      },
    });
}
