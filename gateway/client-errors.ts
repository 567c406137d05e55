/**
 * Heads refused before they became requests the gateway could route: those Node's strict
 * parser refused (400, 431 for an oversized head), heads that did not arrive in time (408,
 * from the edge or from Node's server), and requests Node's server timed out while they were
 * still arriving (408). Each is counted in `roster_gateway_refused_total` by reason, answered
 * with a raw error response that carries a fresh `x-request-id`, and written to the access
 * log under that id: client, status and reason, with no method or path, as the head was never
 * read as a request.
 *
 * A request Node's server had already handed to an exchange is the exchange's to log: when
 * its response had not begun, the 408 is written and the response is marked with it
 * (GatewayResponse.refusal), so the exchange logs what the client got; when it had begun, the
 * connection is cut, as an answer now would corrupt the response on the wire.
 */
import type { Duplex } from 'node:stream';
import type { AccessLog } from './access-log.js';
import { socketAddress } from './forwarding.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import { GatewayResponse } from './proxy-io.js';
import { rawErrorResponse } from './responses.js';
import { newUuid } from './trace.js';

/** The code Node's server and the edge give a head or request that took too long. */
const REQUEST_TIMEOUT_CODE = 'ERR_HTTP_REQUEST_TIMEOUT';

const ANSWERS: Readonly<Record<string, readonly [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  [REQUEST_TIMEOUT_CODE]: [408, 'Request Timeout'],
};
const BAD_REQUEST: readonly [number, string] = [400, 'Bad Request'];

/** The status and reason phrase a refusal code is answered with. */
function refusalStatus(code: string): readonly [number, string] {
  return ANSWERS[code] ?? BAD_REQUEST;
}

/** A Node server socket, with the response it is serving now (node:http sets it). */
type ServerSocket = Duplex & {
  destroyed?: boolean;
  remoteAddress?: string;
  _httpMessage?: unknown;
};

export class ClientErrors {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly accessLog: AccessLog | undefined,
  ) {}

  /** The answer to a head that did not arrive in time at the edge; counted and logged. */
  readonly headTimedOut = (client: string): string => {
    this.metrics.refused.inc({ reason: REQUEST_TIMEOUT_CODE });
    return this.answer(REQUEST_TIMEOUT_CODE, client);
  };

  /** A node:http(s) server's 'clientError' listener. */
  readonly onClientError = (err: Error & { code?: string }, duplex: Duplex): void => {
    const socket = duplex as ServerSocket;
    const code = err.code ?? 'unknown';
    this.metrics.refused.inc({ reason: code });
    const inFlight =
      socket._httpMessage instanceof GatewayResponse ? socket._httpMessage : undefined;
    if (
      code === 'ECONNRESET' ||
      !socket.writable ||
      socket.destroyed === true ||
      inFlight?.headersSent === true
    ) {
      // Nobody to answer, or a response already on its way: the exchange, if any, logs it.
      socket.destroy();
      return;
    }
    if (inFlight !== undefined) {
      const [status, phrase] = refusalStatus(code);
      inFlight.refusal = { status, reason: code };
      const requestId = inFlight.owner?.requestId || undefined;
      socket.end(rawErrorResponse(status, phrase, errorCodeFor(status), requestId));
      return;
    }
    socket.end(this.answer(code, socketAddress(socket.remoteAddress)));
  };

  /** Logs a refusal and returns its answer, named by a new request id. */
  private answer(code: string, client: string): string {
    const [status, phrase] = refusalStatus(code);
    const requestId = newUuid();
    this.accessLog?.record({
      time: Date.now(),
      requestId,
      client,
      method: undefined,
      host: undefined,
      path: undefined,
      route: undefined,
      status,
      durationMs: undefined,
      upstream: undefined,
      upstreamMs: undefined,
      attempts: 0,
      consumer: undefined,
      reason: code,
    });
    return rawErrorResponse(status, phrase, errorCodeFor(status), requestId);
  }
}

function errorCodeFor(status: number): 'ROSTER_ERR_TIMEOUT' | 'ROSTER_ERR_INVALID_ARGUMENT' {
  return status === 408 ? 'ROSTER_ERR_TIMEOUT' : 'ROSTER_ERR_INVALID_ARGUMENT';
}
