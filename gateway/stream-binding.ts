/**
 * Node's `stream_wrap` binding, which the gateway's handle writes (handle-writes.ts) and direct
 * reads (direct-reads.ts) use: the shared state array where a stream handle reports a read's
 * length or a write's outcome, its slot indices, and the WriteWrap request constructor. Also
 * `tcp_wrap`, whose TCP handle class tells the edge's accepted handles apart
 * (edge/accepted-handles.ts). Both are reached through `process.binding`, a
 * documentation-only deprecation in Node 20 (it warns only under `--pending-deprecation`).
 * Each user checks the fields it needs and falls back to net.Socket's own paths when they are
 * missing.
 */
import process from 'node:process';
import { getSystemErrorName } from 'node:util';

/** The binding's fields the gateway may use; any of them can be missing on another Node. */
export interface StreamWrapBinding {
  WriteWrap: unknown;
  streamBaseState: unknown;
  kLastWriteWasAsync: unknown;
  kReadBytesOrError: unknown;
}

/**
 * The parts of Node's `tcp_wrap` binding in use: `TCP` by the edge's accepted handles, all of
 * them by the benchmark's handle floor (scripts/bench/handle-floor.ts).
 */
export interface TcpWrapBinding {
  TCP: unknown;
  TCPConnectWrap: unknown;
  constants: { SOCKET?: unknown; SERVER?: unknown };
}

/** `process.binding(name)`, or undefined where Node does not offer it. */
function loadBinding<T>(name: string): Partial<T> | undefined {
  try {
    return (process as unknown as { binding(name: string): Partial<T> }).binding(name);
  } catch {
    // Not offered (a future Node, a permission model).
    return undefined;
  }
}

/** Node's `stream_wrap` binding, or undefined where Node does not offer it. */
export const streamWrap = loadBinding<StreamWrapBinding>('stream_wrap');

/** Node's `tcp_wrap` binding, or undefined where Node does not offer it. */
export const tcpWrap = loadBinding<TcpWrapBinding>('tcp_wrap');

/** Whether `slot` is a valid index into the binding's shared state array. */
export function isStateSlot(state: unknown, slot: unknown): slot is number {
  return state instanceof Int32Array && typeof slot === 'number' && slot < state.length;
}

/** The error net.Socket would raise for a failed `syscall` with libuv status `status`. */
export function systemError(status: number, syscall: 'read' | 'write'): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  return err;
}
