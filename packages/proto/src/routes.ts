import { checkRoute, ErrorCode, type Route, WasmatrixError } from "@wasmatrix/core";
import type { Route as RouteMessage } from "./generated/wasmatrix/v1/control_plane.js";

/** A route from the wire, checked (INVALID_REQUEST when malformed). */
export function routeFromProto(message: RouteMessage | undefined): Route {
  if (message === undefined)
    throw new WasmatrixError(ErrorCode.INVALID_REQUEST, "the request holds no route");
  const byLabel = message.targetLabelKey !== "";
  if (byLabel === (message.targetInstance !== "")) {
    throw new WasmatrixError(
      ErrorCode.INVALID_REQUEST,
      `route '${message.name.slice(0, 64)}' needs exactly one target: an instance id or a label`,
      { field: "target" },
    );
  }
  return checkRoute({
    name: message.name,
    pathPrefix: message.pathPrefix,
    host: message.host,
    methods: message.methods,
    target: byLabel
      ? { kind: "label", key: message.targetLabelKey, value: message.targetLabelValue }
      : { kind: "instance", instanceId: message.targetInstance },
    operation: message.operation,
  });
}

export function routeToProto(route: Route, createdAtMs = 0): RouteMessage {
  return {
    name: route.name,
    pathPrefix: route.pathPrefix,
    host: route.host,
    methods: [...route.methods],
    targetInstance: route.target.kind === "instance" ? route.target.instanceId : "",
    targetLabelKey: route.target.kind === "label" ? route.target.key : "",
    targetLabelValue: route.target.kind === "label" ? route.target.value : "",
    operation: route.operation,
    createdAtMs,
  };
}
