import * as pb from "@wasmatrix/proto";
import { assignmentFromProto, type NodeFactsApi, type NodeFactsRequest, toBuffer } from "@wasmatrix/proto";
import type { NodeAgent } from "./agent.js";
import { logLineToProto, outcomeToProto, startSpecFromProto, viewToProto } from "./convert.js";
import { type LogFilter, type LogLine, matchesLog } from "./logs.js";
import { followed } from "./stream.js";

/** Facts in one ListFacts answer when the caller names no limit, and at most. */
export const DEFAULT_FACTS_PER_PAGE = 1_000;
export const MAX_FACTS_PER_PAGE = 10_000;

/** A node agent behind the protocol's node API: what the embedded control plane and the gRPC server call. */
export class LocalNodeApi implements pb.NodeAgentApi, NodeFactsApi {
  /** Ids whose start is in progress (see startInstance). */

  constructor(
    readonly agent: NodeAgent,
    private readonly info: { address: string; labels: Record<string, string> } = { address: "", labels: {} },
  ) {}

  async nodeInfo(): Promise<pb.Node> {
    return {
      nodeId: this.agent.nodeId,
      address: this.info.address,
      labels: this.info.labels,
      capabilities: [
        "logging",
        ...(this.agent.servesFilesystem ? ["filesystem"] : []),
        ...this.agent.providers.keys(),
      ],
      status: "alive",
      instances: this.agent.activeCount(),
      maxInstances: this.agent.capacity,
      lastHeartbeatMs: Date.now(),
      version: pb.PROTOCOL_VERSION,
    };
  }

  async startInstance(request: pb.StartInstanceRequest): Promise<pb.Instance> {
    return viewToProto(await this.agent.start(startSpecFromProto(request)));
  }

  async stopInstance(request: pb.StopInstanceRequest): Promise<pb.Instance> {
    return viewToProto(
      await this.agent.stop(request.instanceId, request.deadlineMs > 0 ? request.deadlineMs : undefined),
    );
  }

  async queryStatus(request: pb.QueryStatusRequest): Promise<pb.Instance> {
    return viewToProto(this.agent.get(request.instanceId));
  }

  async invoke(request: pb.InvokeRequest): Promise<pb.InvokeResponse> {
    const result = await this.agent.invoke(request.instanceId, request.operation, request.payload);
    return {
      response: toBuffer(result.response),
      guestError: result.guestError ?? "",
      outcome: outcomeToProto(result.outcome),
    };
  }

  async listInstances(request: pb.ListInstancesRequest): Promise<pb.ListInstancesResponse> {
    return { instances: this.agent.list({ status: request.status }).map(viewToProto) };
  }

  async setAssignments(request: pb.SetAssignmentsRequest): Promise<pb.Instance> {
    return viewToProto(
      this.agent.setAssignments(request.instanceId, request.assignments.map(assignmentFromProto)),
    );
  }

  /** The node's own facts after `afterSeq`, oldest first: what a polling control plane records. */
  async listFacts(request: NodeFactsRequest): Promise<{ facts: pb.Fact[] }> {
    const limit = request.limit > 0 ? Math.min(request.limit, MAX_FACTS_PER_PAGE) : DEFAULT_FACTS_PER_PAGE;
    return { facts: this.agent.facts.query({ afterSeq: request.afterSeq, limit }).map(pb.factToProto) };
  }

  async *streamLogs(request: pb.StreamLogsRequest, signal?: AbortSignal): AsyncIterable<pb.LogLine> {
    const filter: LogFilter = { run: request.run, sinceMs: request.sinceMs, grep: request.grep };
    const retained = this.agent.logs(request.instanceId, request.tail, filter).map(logLineToProto);
    if (!request.follow) {
      yield* retained;
      return;
    }
    // Reading the retained lines and subscribing happen in one synchronous step: no line falls between.
    yield* followed<pb.LogLine>(
      (push) =>
        this.agent.followLogs(request.instanceId, (line: LogLine) => {
          if (matchesLog(line, filter)) push(logLineToProto(line));
        }),
      { initial: retained, ...(signal === undefined ? {} : { signal }) },
    );
  }
}
