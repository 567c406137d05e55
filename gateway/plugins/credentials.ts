/**
 * What an auth plugin keeps from the upstream once it has checked a credential (its `forward`
 * setting, off by default, as Envoy's jwt_authn does and Kong's `hide_credentials` allows): the
 * header that carried it, and a query parameter that carried it. The consumer the plugin found
 * stays with the gateway (rate limits, logs); the upstream is not handed a credential it could
 * replay or write to its logs (docs/adr/0011-checked-credentials-stay-at-the-gateway.md).
 */
import type { RequestContext } from '../types.js';

/** The union of two plugins' sets, made once per pair (weakly held: a reload drops both). */
const unions = new WeakMap<
  ReadonlySet<string>,
  WeakMap<ReadonlySet<string>, ReadonlySet<string>>
>();

function unionOf(a: ReadonlySet<string>, b: ReadonlySet<string>): ReadonlySet<string> {
  let byB = unions.get(a);
  if (byB === undefined) {
    byB = new WeakMap();
    unions.set(a, byB);
  }
  let union = byB.get(b);
  if (union === undefined) {
    union = new Set([...a, ...b]);
    byB.set(b, union);
  }
  return union;
}

/**
 * Adds `names` (lower-case) to the request headers the upstream does not get. A plugin passes
 * the same set on every request, and two plugins on one route get the same union each time,
 * so a route keeps one set object, and the upstream request's field lines kept for a repeated
 * head (head-memo.ts, keyed by that object) stay valid.
 */
export function withholdHeaders(ctx: RequestContext, names: ReadonlySet<string>): void {
  const held = ctx.withheldHeaders;
  ctx.withheldHeaders = held === undefined || held === names ? names : unionOf(held, names);
}

/**
 * `query` (with `?`, or '') without the parameters named `name`, judged as URLSearchParams
 * reads names (percent-decoded, `+` as a space), so an encoded name cannot slip one through.
 * Every other parameter is kept exactly as written, in order.
 */
export function queryWithout(query: string, name: string): string {
  if (query.length <= 1) return query;
  const kept: string[] = [];
  let removed = false;
  for (const part of query.slice(1).split('&')) {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const decoded = rawName === '' ? '' : ([...new URLSearchParams(`${rawName}=`).keys()][0] ?? '');
    if (decoded === name) removed = true;
    else kept.push(part);
  }
  if (!removed) return query;
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}
