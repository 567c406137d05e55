/**
 * The routing key of a Host header: lower-case, without port and trailing dot (`Example.COM:8080`
 * → `example.com`, `[::1]:80` → `[::1]`). Results are cached (bounded), so a steady stream of
 * requests to a few hosts costs one Map lookup each.
 */
const CACHE_LIMIT = 1024;
const cache = new Map<string, string>();

export function hostKey(header: string | undefined): string {
  if (header === undefined) return '';
  const cached = cache.get(header);
  if (cached !== undefined) return cached;
  let host = header.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end === -1 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(header, host);
  return host;
}
