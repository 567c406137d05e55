/**
 * Configuration of every `roster` command, in layers: command-line flags, then `ROSTER_*`
 * environment variables, then a YAML or JSON file (`--config FILE` or `ROSTER_CONFIG`), then
 * defaults. One declarative table, CONFIG_KEYS, names every key once: its path in the file, its
 * flag, its environment variable(s), its type, its default, the commands that take it and what
 * it means. The commands build their options from it (configure()), and docs/operations.md's
 * configuration reference is generated from it (renderConfigReference(),
 * `node --import=tsx scripts/config-reference.ts --write`) and checked against it by a test.
 *
 * Every bad value ends in one RosterError ROSTER_ERR_CONFIG (exit 2) whose message starts with
 * where the value came from: `--heartbeat-ms`, `ROSTER_HEARTBEAT_MS`, or the key's path in the
 * file (`nats.servers[0]: not a nats:// URL ("http://x") in roster.yaml`).
 */

import { readFileSync, statSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDocument } from 'yaml';
import { RosterError } from '../protocol/index.js';

export * from './config-keys.js';
export * from './config-value-types.js';

import { CONFIG_COMMANDS, CONFIG_KEYS, type ConfigCommand, type ConfigKey } from './config-keys.js';
import { ConfigValueError } from './config-value-types.js';

/** The environment variable naming the configuration file, and the flag. */
export const CONFIG_FILE_ENV = 'ROSTER_CONFIG';
export const CONFIG_FILE_FLAG = '--config';

/** Top-level sections of a configuration file that belong to other components. */
export const FOREIGN_SECTIONS: readonly string[] = ['gateway'];

const BY_KEY = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

export function configKey(key: string): ConfigKey {
  const found = BY_KEY.get(key);
  if (found === undefined) throw new Error(`no configuration key ${key}`);
  return found;
}

export function keysFor(command: ConfigCommand): ConfigKey[] {
  return CONFIG_KEYS.filter((k) => k.commands.includes(command));
}

/** commander's attribute name for a flag (`--heartbeat-ms` → heartbeatMs). */
export function attributeOf(flag: string): string {
  return new Option(flag).attributeName();
}

function defaultFor(key: ConfigKey, command: ConfigCommand | undefined): unknown {
  if (command !== undefined && key.commandDefaults && command in key.commandDefaults) {
    return key.commandDefaults[command];
  }
  return key.default;
}

// ---------------------------------------------------------------------------------------------
// The file

export type ConfigFile = { readonly path: string; readonly data: Record<string, unknown> };

function fileError(path: string, message: string): RosterError {
  return new RosterError('ROSTER_ERR_CONFIG', `${path}: ${message}`, { path });
}

/** Reads and parses a YAML or JSON configuration file, refusing unknown keys. */
export function loadConfigFile(path: string, origin = CONFIG_FILE_FLAG): ConfigFile {
  let text: string;
  try {
    if (statSync(path).size > 1024 * 1024) throw fileError(path, 'larger than 1 MiB');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof RosterError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new RosterError(
      'ROSTER_ERR_CONFIG',
      `${origin}: cannot read configuration file ${path} (${code})`,
      { path },
    );
  }
  let data: unknown;
  if (/\.json$/i.test(path)) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw fileError(path, `not valid JSON: ${(err as Error).message}`);
    }
  } else {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      const line = first.linePos?.[0];
      throw fileError(
        path,
        `not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${(first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      );
    }
    data = doc.toJS({ maxAliasCount: 100 });
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw fileError(path, 'expected a mapping of keys at the top level');
  }
  checkKnownKeys(data as Record<string, unknown>, '', path);
  return { path, data: data as Record<string, unknown> };
}

function suggest(path: string): string {
  const lower = path.toLowerCase();
  const close = CONFIG_KEYS.find(
    (k) =>
      k.key.toLowerCase() === lower ||
      k.key.toLowerCase().replace(/[._]/g, '') === lower.replace(/[._-]/g, ''),
  );
  return close ? ` (did you mean ${close.key}?)` : '';
}

function checkKnownKeys(data: Record<string, unknown>, parent: string, file: string): void {
  for (const [name, value] of Object.entries(data)) {
    const path = parent === '' ? name : `${parent}.${name}`;
    if (parent === '' && FOREIGN_SECTIONS.includes(name)) continue;
    if (BY_KEY.has(path)) continue;
    const isSection = CONFIG_KEYS.some((k) => k.key.startsWith(`${path}.`));
    if (isSection) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${path}: expected a mapping (a section of keys) in ${file}`,
          { path, file },
        );
      }
      checkKnownKeys(value as Record<string, unknown>, path, file);
      continue;
    }
    throw new RosterError('ROSTER_ERR_CONFIG', `${path}: unknown key${suggest(path)} in ${file}`, {
      path,
      file,
    });
  }
}

function lookup(data: Record<string, unknown>, key: string): unknown {
  let node: unknown = data;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Resolution

export type ValueSource = 'flag' | 'env' | 'file' | 'default';

export interface ResolvedValue {
  readonly value: unknown;
  readonly source: ValueSource;
  /** `--nats`, `ROSTER_NATS_URL`, `nats.servers in roster.yaml` or `default`. */
  readonly origin: string;
}

export interface ResolveInput {
  /** Values given as flags (already parsed), by key. */
  readonly flags: ReadonlyMap<string, unknown>;
  readonly env: NodeJS.ProcessEnv;
  readonly file?: ConfigFile | undefined;
  readonly command?: ConfigCommand;
}

function configError(origin: string, err: unknown, key: ConfigKey, at = ''): RosterError {
  const message = err instanceof Error ? err.message : String(err);
  const shown = key.secret ? message.replace(/\s*\(".*"[^)]*\)/, '') : message;
  return new RosterError('ROSTER_ERR_CONFIG', `${origin}${at}: ${shown}`, { key: key.key });
}

/**
 * Resolves `keys`: flag > environment > file > default. Throws ROSTER_ERR_CONFIG naming the
 * variable or the file key of a bad value, a conflict, or a missing required key.
 */
export function resolveConfig(
  keys: readonly ConfigKey[],
  input: ResolveInput,
): Map<string, ResolvedValue> {
  const out = new Map<string, ResolvedValue>();
  for (const key of keys) {
    if (input.flags.has(key.key) && input.flags.get(key.key) !== undefined) {
      out.set(key.key, { value: input.flags.get(key.key), source: 'flag', origin: key.flag });
      continue;
    }
    const envName = key.env.find((name) => (input.env[name] ?? '').trim() !== '');
    if (envName !== undefined) {
      let value: unknown;
      try {
        value = key.type.fromText(input.env[envName]!);
      } catch (err) {
        throw configError(envName, err, key);
      }
      out.set(key.key, { value, source: 'env', origin: envName });
      continue;
    }
    const raw = input.file ? lookup(input.file.data, key.key) : undefined;
    if (raw !== undefined && raw !== null && input.file) {
      let value: unknown;
      try {
        value = key.type.fromFile(raw);
      } catch (err) {
        const at = err instanceof ConfigValueError ? err.at : '';
        const e = configError(key.key, err, key, at);
        throw new RosterError('ROSTER_ERR_CONFIG', `${e.message} in ${input.file.path}`, {
          key: key.key,
          file: input.file.path,
        });
      }
      out.set(key.key, {
        value,
        source: 'file',
        origin: `${key.key} in ${input.file.path}`,
      });
      continue;
    }
    const fallback = defaultFor(key, input.command);
    if (fallback !== undefined) {
      out.set(key.key, { value: structuredClone(fallback), source: 'default', origin: 'default' });
    }
  }
  for (const key of keys) {
    const mine = out.get(key.key);
    if (mine === undefined) {
      if (key.required) {
        throw new RosterError(
          'ROSTER_ERR_CONFIG',
          `${key.key} is required: give ${key.flag}, ${key.env[0]} or ${key.key} in the configuration file`,
          { key: key.key },
        );
      }
      continue;
    }
    if (mine.source === 'default' || mine.value === false) continue;
    for (const other of key.conflicts ?? []) {
      const theirs = out.get(other);
      if (theirs === undefined || theirs.source === 'default' || theirs.value === false) continue;
      throw new RosterError(
        'ROSTER_ERR_CONFIG',
        `${mine.origin} cannot be combined with ${theirs.origin}`,
        { key: key.key },
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// commander integration

function helpText(key: ConfigKey, command: ConfigCommand | undefined): string {
  const fallback = defaultFor(key, command);
  const def =
    key.defaultText !== undefined && (key.commandDefaults === undefined || command === undefined)
      ? key.defaultText
      : fallback !== undefined
        ? key.type.show(fallback as never)
        : key.defaultText;
  const parts = [key.description];
  if (def !== undefined && def !== '') parts.push(`(default: ${def})`);
  parts.push(`[env: ${key.env.join(', ')}] [file: ${key.key}]`);
  return parts.join(' ');
}

function optionFor(key: ConfigKey, command: ConfigCommand | undefined): Option {
  const placeholder = key.type.placeholder;
  const option = new Option(
    placeholder === undefined ? key.flag : `${key.flag} ${placeholder}`,
    helpText(key, command),
  );
  if (placeholder !== undefined) {
    option.argParser((value: string, previous: unknown) => {
      let parsed: unknown;
      try {
        parsed = key.type.fromText(value);
      } catch (err) {
        throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
      }
      if (!key.type.repeatable || previous === undefined) return parsed;
      if (Array.isArray(parsed) && Array.isArray(previous)) return [...previous, ...parsed];
      return { ...(previous as object), ...(parsed as object) };
    });
  }
  return option;
}

interface CommandState {
  command?: ConfigCommand;
  keys: ConfigKey[];
  /** Reads `--config` / ROSTER_CONFIG. */
  file: boolean;
}

const configured = new WeakMap<Command, CommandState>();

export interface ConfigureOptions {
  /** The command's name in the table (for per-command defaults). */
  readonly command?: ConfigCommand;
  /**
   * Add `--config` and read the file named by it or by ROSTER_CONFIG (default true). A command
   * with a configuration file of its own (`roster gateway`) passes false: flags and the
   * environment are still layered.
   */
  readonly file?: boolean;
}

function hasLongFlag(command: Command, flag: string): boolean {
  return command.options.some((option) => option.long === flag);
}

/**
 * Adds the options of `keys` to `command` (and `--config`) and layers them before its action
 * runs: after this, the action's options hold, for every key, the flag's value, else the
 * environment's, else the file's, else the default (under commander's attribute names:
 * `--heartbeat-ms` → `heartbeatMs`). Calling it again adds further keys.
 */
export function configureKeys(
  command: Command,
  keys: readonly ConfigKey[],
  options: ConfigureOptions = {},
): Command {
  let state = configured.get(command);
  if (state === undefined) {
    const fresh: CommandState = { keys: [], file: false };
    state = fresh;
    configured.set(command, fresh);
    command.hook('preAction', (_hooked, actionCommand) => {
      if (actionCommand === command) applyLayers(command, fresh);
    });
  }
  if (options.command !== undefined) state.command ??= options.command;
  if ((options.file ?? true) && !state.file && !hasLongFlag(command, CONFIG_FILE_FLAG)) {
    state.file = true;
    command.addOption(
      new Option(
        `${CONFIG_FILE_FLAG} <file>`,
        `YAML or JSON configuration file; flags override the environment, which overrides the file [env: ${CONFIG_FILE_ENV}]`,
      ),
    );
  }
  for (const key of keys) {
    if (state.keys.some((k) => k.key === key.key)) continue;
    state.keys.push(key);
    command.addOption(optionFor(key, state.command));
  }
  return command;
}

/** configureKeys with every key the table gives `name` (the command's name). */
export function configure(command: Command, name: ConfigCommand): Command {
  return configureKeys(command, keysFor(name), { command: name });
}

function applyLayers(command: Command, state: CommandState): void {
  const flags = new Map<string, unknown>();
  for (const key of state.keys) {
    const attr = attributeOf(key.flag);
    if (command.getOptionValueSource(attr) === 'cli')
      flags.set(key.key, command.getOptionValue(attr));
  }
  const cliConfig = state.file
    ? (command.getOptionValue('config') as string | undefined)
    : undefined;
  const envConfig = state.file ? (process.env[CONFIG_FILE_ENV] ?? '').trim() : '';
  const file =
    cliConfig !== undefined
      ? loadConfigFile(cliConfig, CONFIG_FILE_FLAG)
      : envConfig !== ''
        ? loadConfigFile(envConfig, CONFIG_FILE_ENV)
        : undefined;
  const resolved = resolveConfig(state.keys, {
    flags,
    env: process.env,
    file,
    ...(state.command !== undefined ? { command: state.command } : {}),
  });
  for (const key of state.keys) {
    const attr = attributeOf(key.flag);
    const value = resolved.get(key.key);
    if (value === undefined) continue;
    const source =
      value.source === 'flag' ? 'cli' : value.source === 'file' ? 'config' : value.source;
    command.setOptionValueWithSource(attr, value.value, source);
  }
  originsByCommand.set(command, resolved);
}

const originsByCommand = new WeakMap<Command, Map<string, ResolvedValue>>();

/** Where each key's value came from, for a command whose action is running (diagnostics). */
export function resolvedOrigins(command: Command): ReadonlyMap<string, ResolvedValue> {
  return originsByCommand.get(command) ?? new Map();
}

// ---------------------------------------------------------------------------------------------
// The reference (docs/operations.md)

export const REFERENCE_BEGIN = '<!-- config-reference:begin (generated from cli/config.ts) -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(key: ConfigKey): string {
  if (key.required) return '*required*';
  if (key.defaultText !== undefined) return key.defaultText;
  if (key.default === undefined) return 'unset';
  return `\`${key.type.show(key.default as never)}\``;
}

/** The configuration reference: one markdown table, one row per key, in table order. */
export function renderConfigReference(): string {
  const rows = [
    '| Key (file) | Flag | Environment | Type | Default | Commands | Description |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const key of CONFIG_KEYS) {
    const placeholder = key.type.placeholder === undefined ? '' : ` ${key.type.placeholder}`;
    const commands =
      key.commands.length === CONFIG_COMMANDS.length ? 'all' : key.commands.join(', ');
    rows.push(
      `| \`${key.key}\` | \`${key.flag}${placeholder}\` | ${key.env.map((e) => `\`${e}\``).join(', ')} | ${cell(key.type.describe)} | ${cell(defaultCell(key))} | ${commands} | ${cell(key.description)} |`,
    );
  }
  return `${REFERENCE_BEGIN}\n${rows.join('\n')}\n${REFERENCE_END}`;
}
