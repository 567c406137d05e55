import { pino } from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  readonly level?: pino.LevelWithSilent;
  readonly name?: string;
}

/** The root logger for a process: JSON lines on stdout, level from ROSTER_LOG_LEVEL. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level =
    options.level ?? (process.env.ROSTER_LOG_LEVEL as pino.LevelWithSilent | undefined) ?? 'info';
  return pino({ level, name: options.name ?? 'roster' });
}

/** A logger that drops everything: the default for libraries whose caller passed none. */
export const silentLogger: Logger = pino({ level: 'silent' });
