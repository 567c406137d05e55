/**
 * The field lines of the upstream request the proxy's exchange sends: the client's fields and
 * the gateway's forwarding fields (forwardedFieldLines; kept for a repeated head, head-memo.ts),
 * then the consumer an auth plugin accepted, if any, the request id and the trace — a continued one when the client sent a valid
 * traceparent, else a new one (the lines newTraceLines drew with the id, when the gateway made
 * the id).
 */
import { consumerLine, forwardedFieldLines } from './forwarding.js';
import type { HeadMemo } from './head-memo.js';
import { isEncrypted, type ProxyRequest } from './proxy-io.js';
import {
  boundedTracestate,
  continueTraceparent,
  isValidTraceparent,
  newTraceparent,
  traceLines,
} from './trace.js';
import type { FieldLines } from './upstream/field-lines.js';

/** What the exchange knows of the request beyond its head. */
export interface UpstreamLinesInput {
  readonly req: ProxyRequest;
  /** The kept values of the request's head when it repeats one. */
  readonly memo: HeadMemo | undefined;
  /** The client connection's peer address (socketAddress() form). */
  readonly socketIp: string;
  /** The trusted chain, client first (trustedChain()); undefined with no trusted hops. */
  readonly chain: readonly string[] | undefined;
  readonly trustedHops: number;
  readonly requestId: string;
  /** newTraceLines() when the gateway made the request id. */
  readonly newTrace: string | undefined;
  /** Client headers the upstream does not get (RequestContext.withheldHeaders). */
  readonly withheld: ReadonlySet<string> | undefined;
  /** Who is calling, as an auth plugin found (RequestContext.consumer). */
  readonly consumer: string | undefined;
}

export function upstreamRequestLines(input: UpstreamLinesInput): FieldLines {
  const incoming = input.req.headers.traceparent;
  const continued = typeof incoming === 'string' && isValidTraceparent(incoming);
  const trace = continued
    ? traceLines(input.requestId, continueTraceparent(incoming))
    : (input.newTrace ?? traceLines(input.requestId, newTraceparent()));
  const fixed = forwardedLines(input, continued);
  const consumer = consumerLine(input.consumer);
  return {
    text: fixed.text + consumer + trace,
    hasHost: fixed.hasHost,
    contentLength: fixed.contentLength,
  };
}

/** The field lines but the id and trace: kept for a repeated head. */
function forwardedLines(input: UpstreamLinesInput, continued: boolean): FieldLines {
  const { req, memo, socketIp, trustedHops, withheld } = input;
  const encrypted = isEncrypted(req);
  const kept = memo?.keptLines(socketIp, trustedHops, encrypted, withheld);
  if (kept !== undefined) return kept;
  const headers = req.headers;
  const lines = forwardedFieldLines(req.rawHeaders, headers, {
    chain: input.chain ?? [socketIp],
    trustedHops,
    encrypted,
    tracestate: continued ? boundedTracestate(headers.tracestate) : undefined,
    upgrade: false,
    withheld,
  });
  return memo === undefined
    ? lines
    : memo.keepLines(socketIp, trustedHops, encrypted, withheld, lines);
}
