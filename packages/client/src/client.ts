import { DEFAULT_API_ADDRESS } from "@wasmatrix/core";
import {
  type ClientOptions,
  type ControlPlaneConnection,
  connectControlPlane,
  loadTls,
  tlsFilesFrom,
} from "@wasmatrix/proto";

export type { ClientOptions } from "@wasmatrix/proto";

/** The control-plane API a user's program holds: the same methods in embedded mode and over gRPC. */
export type WasmatrixClient = ControlPlaneConnection;

/**
 * Connects to a control plane (`wasmatrix up` or `wasmatrix control-plane`) at `address`, or
 * WASMATRIX_SERVER, or the default loopback address; over mutual TLS with `options.tls`, or the
 * files WASMATRIX_TLS_CA/_CERT/_KEY name. Every failure is a WasmatrixError rebuilt
 * from the server's metadata, or — when the server never answered — NODE_UNAVAILABLE / TIMEOUT.
 */
export function connect(
  address: string = process.env["WASMATRIX_SERVER"] ?? DEFAULT_API_ADDRESS,
  options: ClientOptions = {},
): WasmatrixClient {
  // A program reads the same WASMATRIX_TLS_CA/_CERT/_KEY as the CLI when it names no TLS itself.
  const tls = "tls" in options ? options.tls : loadTls(tlsFilesFrom({}));
  return connectControlPlane(address, { ...options, tls });
}
