/**
 * What a gateway config refers to outside itself, read and checked: the NATS connection's
 * credential files (bus options) and the listeners' certificates and keys.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { RosterError } from '../protocol/index.js';
import { type NatsBusOptions, readNkeySeedFile } from '../transport/nats-options.js';
import type { GatewayConfig, NatsConfig } from './config.js';
import type { TlsMaterial } from './gateway.js';

/** Bus options for `nats` (reads the NKey seed file). */
export function natsBusOptionsFor(nats: NatsConfig, name?: string): NatsBusOptions {
  const out: { -readonly [K in keyof NatsBusOptions]: NatsBusOptions[K] } = {
    servers: [...nats.servers],
    connectTimeoutMs: nats.connectTimeoutMs,
  };
  if (name !== undefined) out.name = name;
  if (nats.user !== undefined) out.user = nats.user;
  if (nats.pass !== undefined) out.pass = nats.pass;
  if (nats.token !== undefined) out.token = nats.token;
  if (nats.credsFile !== undefined) out.credsFile = nats.credsFile;
  if (nats.inboxPrefix !== undefined) out.inboxPrefix = nats.inboxPrefix;
  if (nats.nkeySeedFile !== undefined) {
    const seed = readNkeySeedFile(nats.nkeySeedFile);
    if (seed === undefined) {
      throw new RosterError(
        'ROSTER_ERR_CONFIG',
        `nats.nkeySeedFile: ${nats.nkeySeedFile} does not hold an NKey seed`,
        {
          path: 'nats.nkeySeedFile',
        },
      );
    }
    out.nkeySeed = seed;
  }
  if (nats.tls) {
    out.tls = {
      ...(nats.tls.ca !== undefined ? { caFile: nats.tls.ca } : {}),
      ...(nats.tls.cert !== undefined ? { certFile: nats.tls.cert } : {}),
      ...(nats.tls.key !== undefined ? { keyFile: nats.tls.key } : {}),
    };
  }
  return out;
}

/** Reads (and checks) the certificate and key of each TLS listener; undefined for plain ones. */
export function readListenerTls(config: GatewayConfig): (TlsMaterial | undefined)[] {
  return config.listeners.map((l, i) => {
    if (!l.tls) return undefined;
    const path = `listeners[${i}].tls`;
    let material: TlsMaterial;
    try {
      material = { cert: readFileSync(l.tls.cert, 'utf8'), key: readFileSync(l.tls.key, 'utf8') };
    } catch (err) {
      throw new RosterError('ROSTER_ERR_CONFIG', `${path}: ${(err as Error).message}`, { path });
    }
    try {
      createSecureContext(material);
    } catch (err) {
      throw new RosterError(
        'ROSTER_ERR_CONFIG',
        `${path}: the certificate and key cannot be used (${(err as Error).message})`,
        { path },
      );
    }
    return material;
  });
}
