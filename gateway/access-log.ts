/**
 * The access log's writer: lines (access-log-line.ts) are gathered for up to FLUSH_MS or
 * FLUSH_BYTES, whichever comes first, and written with one asynchronous write per batch, off
 * the loop's thread (a few hundred writes a second at tens of thousands of lines); while a
 * write is out, new lines wait for the next one. What waits is bounded (`maxBufferBytes`): a
 * line that would pass the bound is dropped and counted, so a slow or full disk costs log
 * lines, never the gateway's memory or its requests.
 *
 * The file is opened for appending. `reopen()` opens the path again (after logrotate moved the
 * file away; the gateway calls it on every reload, SIGHUP included); lines already handed to
 * the old file finish there. `stdout` and `stderr` write to the process's descriptors.
 */
import { close, closeSync, openSync, write } from 'node:fs';
import { RosterError } from '../protocol/index.js';
import type { Logger } from '../transport/logger.js';
import { type AccessLogRecord, accessLogLine } from './access-log-line.js';
import { ACCESS_LOG_STREAMS, DEFAULT_ACCESS_LOG_BUFFER_BYTES } from './config-model.js';

export interface AccessLogOptions {
  /** An absolute file path, or `stdout` / `stderr`. */
  readonly path: string;
  /** Most bytes waiting to be written (default 4 MiB); lines beyond it are dropped. */
  readonly maxBufferBytes?: number;
  readonly logger: Logger;
  /** Called with the number of lines dropped, each time some are. */
  readonly onDrop?: (lines: number) => void;
}

/** How long to wait before writing again after EAGAIN (a non-blocking pipe was full). */
const AGAIN_MS = 10;
/** Longest a line waits for its batch to fill. */
const FLUSH_MS = 50;
/** A batch this large is written at once. */
const FLUSH_BYTES = 64 * 1024;
const ERROR_LOG_INTERVAL_MS = 10_000;

function openForAppend(path: string): number {
  try {
    return openSync(path, 'a', 0o640);
  } catch (err) {
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `accessLog.path: cannot open ${path} for appending: ${(err as Error).message}`,
      { path: 'accessLog.path' },
    );
  }
}

export class AccessLog {
  private fd: number;
  private readonly ownsFd: boolean;
  private readonly maxBufferBytes: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private writing = false;
  /** The descriptor the write out now goes to (-1: none out). */
  private writingFd = -1;
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private lastErrorLog = -Infinity;
  private drained: (() => void)[] = [];
  /** Lines dropped since the log was opened. */
  dropped = 0;
  /** Lines written since the log was opened. */
  written = 0;

  /** Opens the log; throws ROSTER_ERR_CONFIG when the file cannot be opened. */
  constructor(private readonly options: AccessLogOptions) {
    const stream = ACCESS_LOG_STREAMS[options.path];
    this.ownsFd = stream === undefined;
    this.fd = stream ?? openForAppend(options.path);
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_ACCESS_LOG_BUFFER_BYTES;
  }

  /** Logs one finished request (or drops it when too much waits already). */
  record(r: AccessLogRecord): void {
    if (this.closed) return;
    const line = accessLogLine(r);
    // Lines are ASCII: their length is their size in bytes.
    if (this.pendingBytes + line.length > this.maxBufferBytes) {
      this.dropped++;
      this.options.onDrop?.(1);
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (!this.writing) this.flushSoon();
  }

  /** Writes now when the batch is full, else within FLUSH_MS. */
  private flushSoon(): void {
    if (this.pendingBytes >= FLUSH_BYTES) {
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, FLUSH_MS);
      this.timer.unref();
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (!this.writing) this.flush();
  };

  /** Opens the path again (log rotation); a failure is logged and the old file kept. */
  reopen(): void {
    if (!this.ownsFd || this.closed) return;
    let fd: number;
    try {
      fd = openForAppend(this.options.path);
    } catch (err) {
      this.options.logger.error({ err }, 'access log: cannot reopen; writing on to the old file');
      return;
    }
    const old = this.fd;
    this.fd = fd;
    // A write out now holds the old descriptor: it is closed when that write is done.
    if (old !== this.writingFd) closeSync(old);
  }

  /** Writes what waits, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.writing) this.flush();
    if (this.writing) await new Promise<void>((resolve) => this.drained.push(resolve));
    if (this.ownsFd) await new Promise<void>((resolve) => close(this.fd, () => resolve()));
  }

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) {
      this.settle();
      return;
    }
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    this.writingFd = this.fd;
    this.writeOut(this.fd, Buffer.from(text, 'latin1'), lines);
  }

  private writeOut(fd: number, buf: Buffer, lines: number): void {
    write(fd, buf, 0, buf.length, null, (err, n) => {
      if (err !== null) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.writeOut(fd, buf, lines), AGAIN_MS);
          return;
        }
        this.failed(err, lines);
      } else if (n < buf.length) {
        this.writeOut(fd, buf.subarray(n), lines);
        return;
      } else {
        this.written += lines;
      }
      // The path was opened again while this write was out: the old descriptor is done with.
      if (fd !== this.fd) close(fd, () => {});
      this.writing = false;
      this.writingFd = -1;
      if (this.pending.length === 0) this.settle();
      else if (this.closed) this.flush();
      else this.flushSoon();
    });
  }

  private failed(err: Error, lines: number): void {
    this.dropped += lines;
    this.options.onDrop?.(lines);
    const now = performance.now();
    if (now - this.lastErrorLog >= ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLog = now;
      this.options.logger.error({ err, lines }, 'access log: write failed; lines dropped');
    }
  }

  /** Nothing is out or waiting: run what waited for that. */
  private settle(): void {
    const waiting = this.drained;
    if (waiting.length === 0) return;
    this.drained = [];
    for (const run of waiting) run();
  }
}
