/**
 * docker-compose.yml runs what exists: every roster service's command is a real `roster`
 * subcommand (its --help exits 0) with real flags, its ROSTER_* variables are configuration
 * keys, every mounted file exists, the NATS servers accept their command line and the mounted
 * configuration, the gateway file passes the gateway's validator, and every NATS user the
 * services log in as is a user of docs/examples/nats-server.conf with that password.
 * (CI also runs `docker-compose -f docker-compose.yml config -q`; no Docker engine is needed.)
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { CONFIG_KEYS } from '../../cli/config.js';
import { ensureNatsServerBinary } from '../../cli/nats-server-binary.js';
import { createProgram } from '../../cli/program.js';
import { loadConfigFile as loadGatewayConfig } from '../../gateway/index.js';
import { CLI_MAIN, REPO_ROOT } from '../helpers/node-process.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string | number> | string[];
  volumes?: string[];
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };
const services = Object.entries(compose.services);
const natsConf = readFileSync(join(REPO_ROOT, 'docs/examples/nats-server.conf'), 'utf8');

function commandOf(service: ComposeService): string[] {
  const c = service.command ?? [];
  return Array.isArray(c) ? c.map(String) : c.split(/\s+/);
}

function envOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** [host path, container path] of each bind mount. */
function mountsOf(service: ComposeService): Array<[string, string]> {
  return (service.volumes ?? []).map((v) => {
    const [host, container] = v.split(':');
    return [isAbsolute(host!) ? host! : join(REPO_ROOT, host!), container!];
  });
}

const isRoster = (s: ComposeService) => s.image === 'roster:local' || s.build !== undefined;
const rosterServices = services.filter(([, s]) => isRoster(s));
const natsServices = services.filter(([, s]) => s.image?.startsWith('nats:'));

t.test('the topology: 3 NATS servers, 3 nodes, 2 gateways, demo services', async (t) => {
  const byCommand = (name: string) => rosterServices.filter(([, s]) => commandOf(s)[0] === name);
  t.equal(natsServices.length, 3, '3 NATS servers');
  t.equal(byCommand('node').length, 3, '3 registry nodes');
  t.equal(byCommand('gateway').length, 2, '2 gateways');
  t.ok(byCommand('demo-service').length >= 2, 'demo services');
  for (const [name, s] of natsServices) {
    const args = commandOf(s);
    const routes = args[args.indexOf('--routes') + 1] ?? '';
    t.same(
      routes.split(',').sort(),
      natsServices.map(([n]) => `nats://${n}:6222`).sort(),
      `${name} routes to every server`,
    );
  }
});

t.test('every roster command is a real subcommand with real flags', async (t) => {
  const program = createProgram();
  const seen = new Set<string>();
  for (const [name, service] of rosterServices) {
    const [sub, ...args] = commandOf(service);
    const command = program.commands.find((c) => c.name() === sub);
    t.ok(command, `${name}: roster ${sub} exists`);
    if (!command) continue;
    const longs = new Set(command.options.map((o) => o.long));
    const shorts = new Set(command.options.map((o) => o.short));
    for (const arg of args.filter((a) => a.startsWith('-'))) {
      t.ok(longs.has(arg) || shorts.has(arg), `${name}: roster ${sub} takes ${arg}`);
    }
    if (seen.has(sub!)) continue;
    seen.add(sub!);
    const help = spawnSync(process.execPath, ['--import=tsx', CLI_MAIN, sub!, '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.equal(help.status, 0, `roster ${sub} --help exits 0 (${help.stderr})`);
    t.match(help.stdout, new RegExp(`^Usage: roster ${sub}`, 'm'), `roster ${sub} --help`);
  }
});

t.test('every ROSTER_* variable is a configuration key', async (t) => {
  const known = new Set(CONFIG_KEYS.flatMap((k) => k.env));
  for (const [name, service] of rosterServices) {
    for (const variable of Object.keys(envOf(service))) {
      t.ok(known.has(variable), `${name}: ${variable} is in cli/config.ts`);
    }
  }
});

t.test('every mounted file exists', async (t) => {
  let mounts = 0;
  for (const [name, service] of services) {
    for (const [host, container] of mountsOf(service)) {
      mounts++;
      t.ok(existsSync(host), `${name}: ${host} (mounted at ${container}) exists`);
    }
  }
  t.ok(mounts >= 5, 'the NATS servers and the gateways mount their configuration');
});

t.test('the NATS servers accept their command line and configuration', async (t) => {
  const binary = await ensureNatsServerBinary({ install: false });
  for (const [name, service] of natsServices) {
    const mounts = new Map(mountsOf(service).map(([host, container]) => [container, host]));
    const args = commandOf(service).map((a) => mounts.get(a) ?? a);
    const result = spawnSync(binary, [...args, '-t'], { encoding: 'utf8', timeout: 30_000 });
    const output = `${result.stdout}${result.stderr}`;
    t.match(output, /configuration file .* is valid/, `${name}: nats-server -t accepts it`);
    t.notMatch(output, /flag provided but not defined/, `${name}: every flag exists`);
  }
});

t.test('the gateways’ file passes the gateway validator', async (t) => {
  for (const [name, service] of rosterServices.filter(([, s]) => commandOf(s)[0] === 'gateway')) {
    const args = commandOf(service);
    const container = args[args.indexOf('--config') + 1];
    const host = mountsOf(service).find(([, c]) => c === container)?.[0];
    t.ok(host, `${name}: --config ${container} is a mounted file`);
    if (!host) continue;
    const { config } = loadGatewayConfig(host);
    t.ok(config.listeners.length > 0, `${name}: listeners`);
    t.ok(
      config.nats.servers.every((s) => natsServices.some(([n]) => s === `nats://${n}:4222`)),
      `${name}: NATS servers are the compose ones`,
    );
    t.ok(
      natsConf.includes(`{ user: ${config.nats.user}, password: "${config.nats.pass}"`),
      `${name}: logs in as a user of nats-server.conf`,
    );
  }
});

t.test('every service logs in as a user of nats-server.conf', async (t) => {
  for (const [name, service] of rosterServices) {
    const env = envOf(service);
    if (env.ROSTER_NATS_USER === undefined) continue;
    t.ok(
      natsConf.includes(`{ user: ${env.ROSTER_NATS_USER}, password: "${env.ROSTER_NATS_PASS}"`),
      `${name}: ${env.ROSTER_NATS_USER} with its password`,
    );
    const user = env.ROSTER_NATS_USER;
    if (user !== 'node') {
      t.equal(env.ROSTER_NATS_INBOX_PREFIX, `_INBOX.${user}`, `${name}: its own inbox prefix`);
    }
    for (const server of (env.ROSTER_NATS_URL ?? '').split(',')) {
      t.ok(
        natsServices.some(([n]) => server === `nats://${n}:4222`),
        `${name}: ${server} is a compose NATS server`,
      );
    }
  }
});
