/**
 * Starts a server process that prints `{"port":N}` as its first stdout line (the gateway
 * benchmarks' upstream, proxies and gateway) and stops it again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGTERM (SIGKILL after 3 s); resolves once the process exited. */
  stop(): Promise<void>;
}

export const NODE_TSX = [process.execPath, '--import=tsx'];

export function spawnServer(
  command: string,
  args: readonly string[],
  options: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: options.env ?? process.env,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} ${args.join(' ')} did not report a port in time`));
    }, options.timeoutMs ?? 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited ${code} before reporting a port`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const { port } = JSON.parse(line) as { port: number };
        child.stdout!.resume();
        resolve({ port, child, stop });
      } catch (err) {
        void stop();
        reject(err);
      }
    });
  });
}
