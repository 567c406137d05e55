/**
 * Response headers that plugins add — `ctx.responseHeaders`, or the headers of an answer a
 * plugin gives itself — are checked before they are written. The edge writes header lines as
 * given, so a CR or LF in a value would split the response; a framing or hop-by-hop name
 * (Content-Length, Transfer-Encoding, Connection…) would contradict the framing the gateway
 * chose; x-request-id is the gateway's own. Such headers are dropped, never written.
 */
import type { Logger } from '../transport/logger.js';
import { hasControl, isToken } from './http-syntax.js';

/** Longest plugin header value written (characters). */
export const MAX_PLUGIN_HEADER_VALUE = 8192;

const GATEWAY_OWNED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'x-request-id',
]);

/** A header name judged: its lower-case form, and why it is refused ('': it is not). */
interface NameVerdict {
  readonly lower: string;
  readonly problem: string;
}

/**
 * Names judged before: plugins set the same few names on every response. Bounded: cleared when
 * full, and names longer than NAME_KEPT_MAX are judged each time.
 */
const verdicts = new Map<string, NameVerdict>();
const VERDICTS_MAX = 256;
const NAME_KEPT_MAX = 128;

function nameVerdict(name: string): NameVerdict {
  let verdict = verdicts.get(name);
  if (verdict !== undefined) return verdict;
  const lower = name.toLowerCase();
  verdict = {
    lower,
    problem: !isToken(name) ? 'invalid name' : GATEWAY_OWNED.has(lower) ? 'set by the gateway' : '',
  };
  if (name.length <= NAME_KEPT_MAX) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear();
    verdicts.set(name, verdict);
  }
  return verdict;
}

/** Why a plugin header is refused, or undefined when it may be written. */
export function pluginHeaderProblem(name: string, value: unknown): string | undefined {
  const { problem } = nameVerdict(name);
  if (problem !== '') return problem;
  if (typeof value !== 'string') return 'not a string';
  if (value.length > MAX_PLUGIN_HEADER_VALUE) return 'value too long';
  if (hasControl(value, true)) return 'control character in value';
  return undefined;
}

/** A plugin header that was not written, and why. */
export interface RefusedHeader {
  readonly header: string;
  readonly problem: string;
}

/**
 * Appends the acceptable headers of `given` to `out` as name/value pairs, and their names in
 * lower case to `lowerNames` when given; returns the first refused one (any others are skipped
 * too), or undefined when all were written.
 */
export function appendPluginHeaders(
  given: Readonly<Record<string, string>>,
  out: string[],
  lowerNames?: string[],
): RefusedHeader | undefined {
  let refused: RefusedHeader | undefined;
  for (const name in given) {
    const value = given[name];
    const problem = pluginHeaderProblem(name, value);
    if (problem !== undefined) {
      refused ??= { header: name, problem };
      continue;
    }
    out.push(name, value as string);
    lowerNames?.push(nameVerdict(name).lower);
  }
  return refused;
}

/** Logs a refused plugin header (appendPluginHeaders' answer); nothing when there is none. */
export function logRefusedHeader(
  logger: Logger,
  route: string | undefined,
  refused: RefusedHeader | undefined,
): void {
  if (refused !== undefined) logger.error({ route, ...refused }, 'plugin response header refused');
}
