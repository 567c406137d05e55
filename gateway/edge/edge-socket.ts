/**
 * What the edge uses of a client connection's socket: a net.Socket or tls.TLSSocket, or — for a
 * plain TCP connection — a HandleSocket on the connection's libuv handle, which builds a
 * net.Socket only when the connection first needs one (handle-socket.ts,
 * docs/adr/0010-edge-on-tcp-handles.md).
 */
export interface EdgeSocket {
  readonly remoteAddress?: string | undefined;
  readonly connecting: boolean;
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly writableNeedDrain: boolean;
  setNoDelay(noDelay?: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close' | 'end' | 'error', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'drain' | 'close' | 'end' | 'error', listener: () => void): unknown;
  isPaused(): boolean;
  pause(): unknown;
  resume(): unknown;
  /** Hands bytes read to the socket's Readable (after a hand-off to Node's server). */
  push(chunk: Buffer): boolean;
  unshift(chunk: Buffer): void;
  write(data: string | Uint8Array, encoding?: BufferEncoding): boolean;
  cork(): void;
  uncork(): void;
  end(): unknown;
  end(data: string | Uint8Array): unknown;
  destroySoon(): void;
  destroy(error?: Error): unknown;
}
