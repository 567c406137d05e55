/**
 * Reads that skip net's read dispatcher (docs/adr/0007-gateway-hot-path.md). A socket made with
 * Node's `onread` option reads into a fixed buffer, and each read still goes through
 * `onStreamRead` (node:internal/stream_base_commons): it refreshes the socket's timer, looks
 * the socket and its callback up by symbol, and checks for a buffer generator, before it calls
 * the callback. The gateway's sockets use none of that (their timeouts are deadlines, their
 * buffer is fixed), and at half rate the dispatcher was ~2 % of the gateway's CPU.
 *
 * So a read of data goes from the handle straight to its target. The read length comes from
 * the stream binding's shared state, as onStreamRead takes it. Everything else — end of
 * stream, errors — still goes to onStreamRead, unchanged. While the target runs, the
 * gateway's clock holds the read's arrival time (read-clock.ts). This relies on
 * `process.binding('stream_wrap')` and net.Socket's private `_handle`. Where they are not what
 * this expects, the socket keeps Node's dispatcher (test/integration/gateway-direct-reads.test.ts
 * fails if a Node upgrade makes that so for plain sockets).
 */
import type { Socket } from 'node:net';
import { readArrived, readHandled } from './read-clock.js';
import { isStateSlot, streamWrap, systemError } from './stream-binding.js';

/** The parts of the stream binding direct reads use. */
interface ReadState {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

function readBinding(): ReadState | undefined {
  const b = streamWrap;
  if (b !== undefined && isStateSlot(b.streamBaseState, b.kReadBytesOrError)) {
    return b as ReadState;
  }
  return undefined; // Node's dispatcher stays
}

const readState = readBinding();
const state = readState?.streamBaseState;
const slot = readState?.kReadBytesOrError ?? 0;

type OnRead = (this: unknown, arrayBuffer: unknown) => unknown;

/** The part of a libuv stream handle this uses. */
interface ReadHandle {
  onread: OnRead;
  reading: boolean;
  readStop(): number;
}

/** Receives the reads of data of a socket whose reads are delivered directly. */
export interface DirectReadTarget {
  /**
   * `bytes` bytes landed at the start of the socket's `onread` buffer. Returns false to stop
   * reading, as that option's callback does.
   */
  onDirectRead(bytes: number): boolean;
}

const TARGET = Symbol('directReadTarget');
const DISPATCHER = Symbol('directReadDispatcher');
const SOCKET = Symbol('directReadSocket');

/** A handle whose reads come to `onDirectRead`: what it needs, kept on the handle itself. */
interface DirectHandle extends ReadHandle {
  [TARGET]: DirectReadTarget;
  [DISPATCHER]: OnRead;
  [SOCKET]: Socket;
}

/**
 * Delivers `socket`'s reads of data straight to `target` (reads into the socket's `onread`
 * buffer). Returns false, changing nothing, when the socket's handle is not what this expects.
 *
 * A read touches as few objects as it can. Every handle calls the one `onDirectRead` (called
 * on the handle, as Node calls `onread`), which finds the target on the handle. At half rate
 * most reads come first after a wake-up, when the process's memory is no longer in the CPU's
 * caches, and each object on the way costs a miss: a function per socket, its context, the
 * socket and its stream states were four to six of them. The socket itself is not looked at:
 * when Node destroys a plain socket it points the handle's `onread` to a no-op in the same
 * call, so no read of a destroyed socket comes here.
 */
export function deliverReadsDirectly(socket: Socket, target: DirectReadTarget): boolean {
  const handle = (socket as unknown as { _handle: Partial<ReadHandle> | null })._handle;
  if (
    state === undefined ||
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.onread !== 'function' ||
    typeof handle.readStop !== 'function'
  ) {
    return false;
  }
  const h = handle as DirectHandle;
  h[TARGET] = target;
  h[DISPATCHER] = h.onread;
  h[SOCKET] = socket;
  h.onread = onDirectRead as OnRead; // Node calls it on this handle
  return true;
}

function onDirectRead(this: DirectHandle, arrayBuffer: unknown): unknown {
  const n = state![slot]!;
  if (n <= 0) return this[DISPATCHER](arrayBuffer);
  if (!deliverRead(this[TARGET], n)) stopReading(this, this[SOCKET]);
  return undefined;
}

/**
 * Hands a read of `bytes` to `target`, with the gateway's clock holding the read's arrival time
 * meanwhile; returns what the target does (false: stop reading).
 */
export function deliverRead(target: DirectReadTarget, bytes: number): boolean {
  readArrived();
  try {
    return target.onDirectRead(bytes);
  } finally {
    readHandled();
  }
}

/** What Node's dispatcher does when an `onread` callback returns false. */
function stopReading(handle: ReadHandle, socket: Socket): void {
  handle.reading = false;
  if (socket.destroyed) return;
  const err = handle.readStop();
  if (err !== 0) socket.destroy(systemError(err, 'read'));
}
