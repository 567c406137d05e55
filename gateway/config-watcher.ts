/**
 * Reloads the gateway config when it changes: on a save (fs.watch on the folders of the
 * config file and of the files it names, such as TLS certificates) and on SIGHUP.
 *
 * - Folders are watched rather than files, so editors that save by renaming a new file over
 *   the old one, and Kubernetes ConfigMap volumes (which swap a symlink), are both seen.
 * - Events are debounced (100 ms) and then the contents are hashed (config text plus the named
 *   files): a save that changes nothing, or an event for an unrelated file in the same folder,
 *   does not reload.
 * - SIGHUP always reloads (certificates may have been replaced in place).
 * - Reloads never overlap: a change during a reload runs one more reload afterwards.
 * - A failed reload is remembered by its hash too, so the same broken file is not retried on
 *   every unrelated event; the next different save (or SIGHUP) tries again.
 */

import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Logger, silentLogger } from '../transport/logger.js';

export type ReloadTrigger = 'file' | 'signal' | 'manual';

export interface ConfigWatcherOptions {
  /** The config file. */
  readonly file: string;
  /** Further files whose contents count (asked again after every reload). */
  readonly extraFiles?: () => readonly string[];
  /** Runs the reload; its outcome is the caller's business (it should not throw). */
  readonly reload: (trigger: ReloadTrigger) => Promise<unknown>;
  readonly logger?: Logger;
  /** Coalescing of file events (default 100 ms). */
  readonly debounceMs?: number;
  /** The signal that forces a reload (default SIGHUP; false: none). */
  readonly signal?: NodeJS.Signals | false;
  /** Hash of the contents already loaded (so the first event after start is compared to it). */
  readonly initialHash?: string;
}

/** The content hash of the config file and the files it refers to (missing files hash as such). */
export function contentHash(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const file of files) {
    h.update(file);
    h.update('\u0000');
    try {
      h.update(readFileSync(file));
    } catch (err) {
      h.update(`<unreadable ${(err as NodeJS.ErrnoException).code ?? 'error'}>`);
    }
    h.update('\u0000');
  }
  return h.digest('hex');
}

export class ConfigWatcher implements AsyncDisposable {
  private readonly file: string;
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private rearmTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending: ReloadTrigger | undefined;
  private lastHash: string | undefined;
  private closed = false;
  private readonly onSignal = (): void => {
    this.logger.info({ signal: this.options.signal }, 'reload requested by signal');
    this.trigger('signal');
  };

  constructor(private readonly options: ConfigWatcherOptions) {
    this.file = resolve(options.file);
    this.logger = (options.logger ?? silentLogger).child({ component: 'config-watcher' });
    this.debounceMs = options.debounceMs ?? 100;
    this.lastHash = options.initialHash;
  }

  /** The files whose contents are compared. */
  files(): string[] {
    return [this.file, ...(this.options.extraFiles?.() ?? []).map((f) => resolve(f))];
  }

  /** The hash of the current contents. */
  hash(): string {
    return contentHash(this.files());
  }

  start(): void {
    this.lastHash ??= this.hash();
    this.arm();
    const signal = this.options.signal ?? 'SIGHUP';
    if (signal !== false) process.on(signal, this.onSignal);
  }

  /** Asks for a reload: `file` only when the contents changed, `signal`/`manual` always. */
  trigger(trigger: ReloadTrigger): void {
    if (this.closed) return;
    if (this.running) {
      // Forced triggers win over file ones.
      if (this.pending === undefined || trigger !== 'file') this.pending = trigger;
      return;
    }
    this.running = this.run(trigger).finally(() => {
      this.running = undefined;
      const next = this.pending;
      this.pending = undefined;
      if (next !== undefined) this.trigger(next);
    });
  }

  /** Resolves once no reload is running (tests). */
  async idle(): Promise<void> {
    while (this.running || this.timer) {
      await (this.running ?? new Promise((r) => setTimeout(r, this.debounceMs)));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const signal = this.options.signal ?? 'SIGHUP';
    if (signal !== false) process.off(signal, this.onSignal);
    if (this.timer) clearTimeout(this.timer);
    if (this.rearmTimer) clearTimeout(this.rearmTimer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async run(trigger: ReloadTrigger): Promise<void> {
    const hash = this.hash();
    if (trigger === 'file' && hash === this.lastHash) {
      this.logger.debug('config files unchanged; no reload');
      return;
    }
    this.lastHash = hash;
    try {
      await this.options.reload(trigger);
    } catch (err) {
      this.logger.error({ err }, 'reload failed');
    }
    if (!this.closed) this.arm(); // the set of referenced files may have changed
  }

  private onEvent(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.trigger('file');
    }, this.debounceMs);
  }

  /** Watches the folder of every file of interest (and stops watching folders no longer needed). */
  private arm(): void {
    const dirs = new Set(this.files().map((f) => dirname(f)));
    for (const [dir, w] of this.watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    let failed = false;
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.onEvent());
        w.on('error', (err) => {
          this.logger.warn({ err, dir }, 'watching a config folder failed; retrying');
          w.close();
          this.watchers.delete(dir);
          this.scheduleRearm();
        });
        this.watchers.set(dir, w);
      } catch (err) {
        failed = true;
        this.logger.warn(
          { err, dir },
          'cannot watch a config folder; retrying (SIGHUP still reloads)',
        );
      }
    }
    if (failed) this.scheduleRearm();
  }

  private scheduleRearm(): void {
    if (this.closed || this.rearmTimer) return;
    this.rearmTimer = setTimeout(() => {
      this.rearmTimer = undefined;
      if (this.closed) return;
      this.arm();
      this.onEvent(); // something may have changed while we were not watching
    }, 1_000);
    this.rearmTimer.unref();
  }
}
