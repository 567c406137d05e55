/**
 * Takes a plain TCP server's accepted connections as bare libuv handles, before Node builds a
 * net.Socket for each (docs/adr/0010-edge-on-tcp-handles.md). Each time the server starts
 * listening, its listening handle's `onconnection` — Node's accept callback, which builds the
 * socket and emits 'connection' — is wrapped: an accepted TCP handle goes to `accept`, counted
 * on the server as Node counts its sockets (so `server.close()` waits for it and
 * `maxConnections` holds). Errors, refusals over `maxConnections` and anything but a TCP
 * handle stay with Node's callback.
 *
 * This relies on net.Server's private `_handle` and `_connections` and on
 * `process.binding('tcp_wrap')`. Where those are not what it expects, nothing is taken and the
 * server's connections keep arriving as sockets (test/integration/gateway-edge-handles.test.ts
 * fails if a Node upgrade makes that so).
 */
import type { Server } from 'node:net';
import { tcpWrap } from '../stream-binding.js';
import {
  type AcceptedHandle,
  type ConnectionCounter,
  handleSocketsAvailable,
} from './handle-socket.js';

type OnConnection = (this: unknown, status: number, handle?: unknown) => unknown;

interface ListeningHandle {
  onconnection: OnConnection;
}

const TCP =
  handleSocketsAvailable && typeof tcpWrap?.TCP === 'function'
    ? (tcpWrap.TCP as abstract new (
        ...args: never[]
      ) => unknown)
    : undefined;

function isAcceptedHandle(handle: unknown): handle is AcceptedHandle {
  if (TCP === undefined || !(handle instanceof TCP)) return false;
  const h = handle as Partial<Record<keyof AcceptedHandle, unknown>>;
  return (
    typeof h.useUserBuffer === 'function' &&
    typeof h.readStart === 'function' &&
    typeof h.getpeername === 'function'
  );
}

/**
 * From now on (and after each later 'listening'), hands the server's accepted TCP connections
 * to `accept` as bare handles; changes nothing where this Node does not allow it.
 */
export function takeAcceptedHandles(
  server: Server,
  accept: (handle: AcceptedHandle, counter: ConnectionCounter) => void,
): void {
  if (TCP === undefined) return;
  const counter = server as unknown as ConnectionCounter & { maxConnections?: number };
  if (typeof counter._connections !== 'number') return;
  const wrap = (): void => {
    const listening = (server as unknown as { _handle?: Partial<ListeningHandle> | null })._handle;
    if (listening === null || listening === undefined) return;
    const nodeOnConnection = listening.onconnection;
    if (typeof nodeOnConnection !== 'function') return;
    listening.onconnection = function (this: unknown, status: number, handle?: unknown) {
      const max = counter.maxConnections;
      if (
        status !== 0 ||
        !isAcceptedHandle(handle) ||
        (max !== undefined && max > 0 && counter._connections >= max)
      ) {
        return nodeOnConnection.call(this, status, handle);
      }
      counter._connections++;
      accept(handle, counter);
      return undefined;
    };
  };
  server.on('listening', wrap);
  if (server.listening) wrap();
}
