import type { Fact, FactLog } from "@wasmatrix/core";
import type * as pb from "@wasmatrix/proto";
import { factToProto } from "@wasmatrix/proto";

/** WatchEvents over a fact log: the facts after `afterSeq` that match, then (unless `noFollow`) new ones as they come. */
export async function* watchFacts(
  facts: FactLog,
  request: pb.WatchEventsRequest,
  signal?: AbortSignal,
): AsyncIterable<pb.Fact> {
  const kinds = new Set(request.kinds);
  const matches = (fact: Fact) =>
    (request.instanceId === "" || fact.instanceId === request.instanceId) &&
    (kinds.size === 0 || kinds.has(fact.kind));
  if (request.noFollow) {
    for (const fact of facts.query({ afterSeq: request.afterSeq }))
      if (matches(fact)) yield factToProto(fact);
    return;
  }
  for await (const fact of facts.subscribe({
    afterSeq: request.afterSeq,
    ...(signal === undefined ? {} : { signal }),
  })) {
    if (matches(fact)) yield factToProto(fact);
  }
}
