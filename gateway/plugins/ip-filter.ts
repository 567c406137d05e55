/**
 * IP allow and deny lists on ctx.clientIp (the address after the gateway's trusted-hops rule).
 * Entries are addresses or CIDR blocks, IPv4 or IPv6, held in node:net BlockLists. Deny wins:
 * an address on the deny list is refused even if also allowed; with a non-empty allow list,
 * everything not on it is refused. IPv4-mapped IPv6 clients (`::ffff:10.1.2.3`) match IPv4
 * entries; an address that does not parse is refused.
 */
import { BlockList, isIP } from 'node:net';
import type { Plugin, PluginEnvironment, PluginFactory } from '../types.js';
import { rejection } from './outcome.js';
import { configError, SettingsReader } from './settings.js';

const SETTINGS = ['allow', 'deny'] as const;
const MAX_ENTRIES = 10_000;

function readList(s: SettingsReader, key: 'allow' | 'deny'): BlockList | undefined {
  const entries = s.stringList(key, { maxItems: MAX_ENTRIES, max: 64 });
  if (entries === undefined || entries.length === 0) return undefined;
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const path = `${s.keyPath(key)}[${i}]`;
    const slash = entry.indexOf('/');
    const address = (slash < 0 ? entry : entry.slice(0, slash)).trim();
    const family = isIP(address);
    if (family === 0) configError(path, `${JSON.stringify(entry)} is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) {
      list.addAddress(address, type);
      return;
    }
    const bits = entry.slice(slash + 1).trim();
    const prefix = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
      configError(path, `${JSON.stringify(entry)} has an invalid prefix length`);
    }
    list.addSubnet(address, prefix, type);
  });
  return list;
}

export function createIpFilterPlugin(settings: unknown, env: PluginEnvironment): Plugin {
  const s: SettingsReader = SettingsReader.of(settings, env.configPath, SETTINGS);
  const allow = readList(s, 'allow');
  const deny = readList(s, 'deny');
  if (allow === undefined && deny === undefined) {
    configError(s.path, 'give a non-empty allow or deny list');
  }
  const denied = rejection(
    'ROSTER_ERR_FORBIDDEN',
    'ip_denied',
    'The client address is not allowed',
  );
  const notAllowed = rejection(
    'ROSTER_ERR_FORBIDDEN',
    'ip_not_allowed',
    'The client address is not allowed',
  );
  const invalid = rejection('ROSTER_ERR_FORBIDDEN', 'ip_invalid', 'The client address is unknown');

  return {
    name: 'ip-filter',
    onRequest(ctx) {
      let ip = ctx.clientIp;
      const zone = ip.indexOf('%');
      if (zone >= 0) ip = ip.slice(0, zone);
      const family = isIP(ip);
      if (family === 0) return invalid;
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (deny?.check(ip, type)) return denied;
      if (allow !== undefined && !allow.check(ip, type)) return notAllowed;
      return undefined;
    },
  };
}

export const ipFilterPluginFactory: PluginFactory = {
  name: 'ip-filter',
  order: 10,
  create: createIpFilterPlugin,
};
