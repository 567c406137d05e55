/**
 * Makes sure no child process a test helper started outlives the test process: children are
 * tracked, killed (SIGKILL) on exit and on SIGINT/SIGTERM/SIGHUP/SIGALRM, and a watchdog shell
 * holding a pipe from us kills whatever is still listed if we die without running any hook
 * (tap's SIGKILL after a timeout). Each helper gets its own temporary root, removed at exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class ChildReaper {
  private readonly live = new Set<ChildProcess>();
  private rootDir: string | undefined;
  private pidsFile: string | undefined;

  /** `label` names the temp root (`roster-<label>-<pid>-…`) and the watchdog. */
  constructor(private readonly label: string) {}

  /** This helper's temporary root (created, with the hooks, on first use). */
  root(): string {
    if (this.rootDir !== undefined) return this.rootDir;
    const root = mkdtempSync(join(tmpdir(), `roster-${this.label}-${process.pid}-`));
    const pids = join(root, 'pids');
    writeFileSync(pids, '');
    this.rootDir = root;
    this.pidsFile = pids;
    process.on('exit', () => this.reapAll());
    if (process.platform !== 'win32') {
      this.installSignalHooks();
      this.startWatchdog(root, pids);
    }
    return root;
  }

  track(child: ChildProcess): void {
    this.root();
    this.live.add(child);
    this.writePids();
  }

  untrack(child: ChildProcess): void {
    this.live.delete(child);
    this.writePids();
  }

  private reapAll(): void {
    for (const child of this.live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    this.live.clear();
    if (this.rootDir !== undefined) rmSync(this.rootDir, { recursive: true, force: true });
  }

  private writePids(): void {
    if (this.pidsFile === undefined) return;
    const pids = [...this.live].map((child) => child.pid).filter((pid) => pid !== undefined);
    try {
      writeFileSync(this.pidsFile, pids.join(' '));
    } catch {
      // the root is being removed at exit
    }
  }

  /**
   * Kill the children, then let the signal do what it would have done: when another listener
   * (tap's signal-exit) is still registered it takes over, otherwise the signal is raised
   * again with the default action restored.
   */
  private installSignalHooks(): void {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'] as const) {
      process.prependOnceListener(signal, () => {
        this.reapAll();
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    }
  }

  /** A shell that waits for EOF on a pipe from us (we died, however) and kills what is listed. */
  private startWatchdog(root: string, pids: string): void {
    const script =
      'read _ignored; if [ -s "$1" ]; then kill -9 $(cat "$1") 2>/dev/null; fi; rm -rf "$2"';
    try {
      const watchdog = spawn(
        '/bin/sh',
        ['-c', script, `roster-${this.label}-watchdog`, pids, root],
        {
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      watchdog.on('error', () => {});
      watchdog.stdin?.on('error', () => {});
      watchdog.unref();
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    } catch {
      // best effort: the exit hooks still run in every ordinary exit
    }
  }
}
