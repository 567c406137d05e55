/**
 * The edge: a fast HTTP/1.1 front for a listening node:http or node:https server
 * (docs/adr/0007-gateway-hot-path.md). It takes the server's connections before Node's HTTP
 * machinery does and serves the common case — bodiless requests in a strict subset of
 * HTTP/1.1 — itself, without IncomingMessage/ServerResponse streams. A connection whose next
 * request falls outside the subset is passed, unread bytes intact, to the server's own
 * connection listener, so bodies, upgrades, refusals (400/431/408) and everything else behave
 * exactly as Node's strict server makes them.
 *
 * The server keeps listening, closing, TLS contexts and its 'request'/'upgrade'/'clientError'
 * handlers; the edge only needs its own idle/all connection closing at shutdown. A plain
 * server's connections are taken as bare TCP handles, before Node builds sockets for them, and
 * get a net.Socket only if they come to need one (handle-socket.ts,
 * docs/adr/0010-edge-on-tcp-handles.md); a TLS server's arrive as sockets.
 */
import type { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import { rawErrorResponse } from '../responses.js';
import { takeAcceptedHandles } from './accepted-handles.js';
import { EdgeConnection, type EdgeConnectionOwner, type EdgeLimits } from './edge-connection.js';
import type { EdgeRequest, EdgeResponse } from './edge-response.js';
import { HandleSocket } from './handle-socket.js';

type ConnectionListener = (this: unknown, socket: Socket) => void;

/** A head that took too long, answered without counting or logging it. */
function plainHeadTimeout(): string {
  return rawErrorResponse(408, 'Request Timeout', 'ROSTER_ERR_TIMEOUT');
}

export class Edge implements EdgeConnectionOwner {
  closing = false;
  private readonly connections = new Set<EdgeConnection>();
  private readonly nodeListeners: ConnectionListener[];

  /**
   * Installs the edge in front of `server`; `tls` tells which event carries its connections
   * ('secureConnection' for node:https, 'connection' for node:http).
   */
  constructor(
    private readonly server: EventEmitter,
    tls: boolean,
    readonly limits: EdgeLimits,
    private readonly handler: (req: EdgeRequest, res: EdgeResponse) => void,
    private readonly onHeadTimeout: (client: string) => string = plainHeadTimeout,
  ) {
    const event = tls ? 'secureConnection' : 'connection';
    this.nodeListeners = server.listeners(event) as ConnectionListener[];
    server.removeAllListeners(event);
    server.on(event, (socket: Socket) => {
      this.connections.add(new EdgeConnection(socket, this));
    });
    // Plain connections are served on their bare handles (ADR 0010); a TLS server's arrive as
    // sockets, after the handshake.
    if (!tls) {
      takeAcceptedHandles(server as Server, (handle, counter) => {
        this.connections.add(new EdgeConnection(new HandleSocket(handle, counter), this));
      });
    }
  }

  /** Connections the edge serves now (not counting those handed to Node's server). */
  get size(): number {
    return this.connections.size;
  }

  request(req: EdgeRequest, res: EdgeResponse): void {
    this.handler(req, res);
  }

  headTimedOut(client: string): string {
    return this.onHeadTimeout(client);
  }

  fallback(socket: Socket): void {
    for (const listener of this.nodeListeners) listener.call(this.server, socket);
  }

  released(connection: EdgeConnection): void {
    this.connections.delete(connection);
  }

  /** Closes connections between requests (and, from now on, each one after its response). */
  closeIdleConnections(): void {
    this.closing = true;
    for (const c of this.connections) if (c.idle) c.destroy();
  }

  closeAllConnections(): void {
    this.closing = true;
    for (const c of [...this.connections]) c.destroy();
  }
}
