/**
 * What the proxy's exchange needs from a client request and its response. Node's
 * IncomingMessage and the gateway's ServerResponse subclass have these shapes (the fallback
 * path, which also carries request bodies); the edge's EdgeRequest/EdgeResponse implement them
 * for the bodiless requests it serves itself (docs/adr/0007-gateway-hot-path.md).
 */
import { type IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** The request as routing, plugins and forwarding read it. */
export interface ProxyRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** Lower-case names. */
  readonly headers: IncomingHttpHeaders;
  /** Flat `[name, value, …]` as received. */
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress?: string | undefined };
  /** The socket's peer address in socketAddress() form, when the connection keeps it. */
  readonly clientAddress?: string | undefined;
  /**
   * True when the request's head is the previous request's on its connection, byte for byte and
   * as the same objects (`rawHeaders`, `headers`; the edge's repeated heads, never changed once
   * read): what is derived from the head and the connection alone may be kept under `rawHeaders`
   * (head-memo.ts).
   */
  readonly repeatedHead?: boolean | undefined;
}

/** The body stream of a request, or undefined for a request that cannot have one (the edge's). */
export function bodyStreamOf(req: ProxyRequest): IncomingMessage | undefined {
  return req instanceof IncomingMessage ? req : undefined;
}

/** A client body longer than the route's limit (the body-limit plugin's bodyLimit). */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/**
 * Streams the client's body to the upstream client; the request is not destroyed when the
 * upstream side stops early (the gateway may still answer 502/413 on it).
 */
export async function* streamBody(
  req: IncomingMessage,
  limit: number | undefined,
): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buf = chunk as Buffer;
    seen += buf.length;
    if (limit !== undefined && seen > limit) throw new BodyTooLargeError('request body too large');
    yield buf;
  }
}

/** Whether the client connection is TLS. */
export function isEncrypted(req: ProxyRequest): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/** Who a response reports to (the exchange), so shared listeners need no closure. */
export interface ResponseOwner {
  /** The request id the response is named by ('' until the exchange has one). */
  readonly requestId: string;
  /** The response closed (finished or the client went away). */
  closed(): void;
  /** The client drained: read more from the upstream. */
  resumeUpstream(): void;
}

/** The response side: a head of flat headers, body chunks with backpressure, and its end. */
export interface ProxyResponse {
  owner: ResponseOwner | undefined;
  statusCode: number;
  /** True once writeHead() was called. */
  readonly headersSent: boolean;
  /**
   * Set when the server answered the request itself before the response began (Node's request
   * timeout: client-errors.ts), with what it sent.
   */
  readonly refusal?: Refusal;
  /** Set false to close the connection after this response. */
  shouldKeepAlive: boolean;
  /** True once end() was called and the data handed to the socket. */
  readonly writableFinished: boolean;
  writeHead(status: number, headers: string[]): unknown;
  /**
   * writeHead() from ready field lines, each ending in CRLF (the edge's responses have it);
   * `contentLength` and `date` tell whether the lines hold those fields.
   */
  writeHeadLines?(status: number, lines: string, contentLength: boolean, date: boolean): unknown;
  /** False when the client is not keeping up: wait for 'drain'. */
  write(chunk: Buffer): boolean;
  /** A string body is UTF-8. */
  end(body?: Buffer | string): unknown;
  /** Ends with latin1 text: one character per byte. */
  end(text: string, encoding: 'latin1'): unknown;
  /** Abandons the response and its connection. */
  destroy(): unknown;
  /** 'close': the response finished or its connection closed (once). */
  on(event: 'close', listener: (this: ProxyResponse) => void): unknown;
  once(event: 'drain', listener: (this: ProxyResponse) => void): unknown;
}

/** An answer the server wrote in a response's place: its status and the refusal's code. */
export interface Refusal {
  readonly status: number;
  readonly reason: string;
}

/** The server's response class: carries its exchange, so shared listeners need no closure. */
export class GatewayResponse extends ServerResponse implements ProxyResponse {
  owner: ResponseOwner | undefined = undefined;
  refusal: Refusal | undefined = undefined;
}

/** The response's 'close' listener: tells its owner, once. */
export function onResponseClose(this: ProxyResponse): void {
  const owner = this.owner;
  if (owner !== undefined) {
    this.owner = undefined;
    owner.closed();
  }
}

/** The response's 'drain' listener: the owner reads on from the upstream. */
export function onResponseDrain(this: ProxyResponse): void {
  this.owner?.resumeUpstream();
}
