import { ErrorCode, WasmatrixError } from "@wasmatrix/core";

/** The wire protocol's version: a different major is incompatible, a newer minor only adds. */
export const PROTOCOL_VERSION = "1.2";

export function checkProtocolVersion(peer: string): void {
  const [major] = PROTOCOL_VERSION.split(".");
  const match = /^(\d+)\.(\d+)$/.exec(peer);
  if (match === null || match[1] !== major) {
    throw new WasmatrixError(
      ErrorCode.INCOMPATIBLE_VERSION,
      `peer speaks protocol ${peer || "(none)"}, this side speaks ${PROTOCOL_VERSION}; upgrade the older side`,
      { peer, local: PROTOCOL_VERSION },
    );
  }
}
