import * as pb from "@wasmatrix/proto";

/**
 * Builders that fill in the protocol's zero values, so callers write only what they mean:
 * `client.startInstance(startRequest({ module, instanceId: "echo" }))`.
 */
export const startRequest = (fields: pb.DeepPartial<pb.StartInstanceRequest>): pb.StartInstanceRequest =>
  pb.StartInstanceRequest.fromPartial(fields);
export const stopRequest = (instanceId: string, deadlineMs = 0): pb.StopInstanceRequest => ({
  instanceId,
  deadlineMs,
});
export const invokeRequest = (
  instanceId: string,
  operation: string,
  payload: Uint8Array | string = "",
): pb.InvokeRequest => ({
  instanceId,
  operation,
  payload: typeof payload === "string" ? Buffer.from(payload) : pb.toBuffer(payload),
});
export const listRequest = (fields: Partial<pb.ListInstancesRequest> = {}): pb.ListInstancesRequest =>
  pb.ListInstancesRequest.fromPartial(fields);
export const logsRequest = (
  instanceId: string,
  fields: Partial<Omit<pb.StreamLogsRequest, "instanceId">> = {},
): pb.StreamLogsRequest => pb.StreamLogsRequest.fromPartial({ ...fields, instanceId });
export const watchRequest = (fields: Partial<pb.WatchEventsRequest> = {}): pb.WatchEventsRequest =>
  pb.WatchEventsRequest.fromPartial(fields);
