/**
 * The Roster gateway in its own process, for the gateway benchmarks:
 *
 *   node --import=tsx scripts/bench/gateway-process.ts --nats URL --service NAME
 *     [--plugins JSON]   (route plugin settings, e.g. {"jwt":{…},"rate-limit":{…}})
 *     [--access-log PATH] (an access log line per request, appended to PATH)
 *
 * One prefix route `/` to the service; prints `{"port":N}` once listening and synced. Exits
 * on SIGTERM / SIGINT after a graceful close (so `--cpu-prof` writes its profile).
 */
import { connect } from '../../client/index.js';
import { AccessLog } from '../../gateway/access-log.js';
import { Gateway } from '../../gateway/gateway.js';
import { createPluginChain } from '../../gateway/plugins/index.js';
import { compileRoutes } from '../../gateway/router.js';
import type { CompiledRouteTable, Plugin, RouteConfig } from '../../gateway/types.js';
import { silentLogger } from '../../transport/logger.js';
import { stringArg } from './util.js';

const args = process.argv.slice(2);
const natsUrl = stringArg(args, '--nats');
const service = stringArg(args, '--service') ?? 'bench';
const pluginSettings = stringArg(args, '--plugins');
const accessLogPath = stringArg(args, '--access-log');
if (natsUrl === undefined) throw new Error('--nats URL is required');

const routes: RouteConfig[] = [
  { name: 'bench', service, match: { path: { prefix: '/' } }, source: 'file' },
];
const chain: Plugin[] =
  pluginSettings === undefined
    ? []
    : createPluginChain(
        JSON.parse(pluginSettings) as Record<string, unknown>,
        'routes.bench.plugins',
        {
          liveGateways: () => 1,
          logger: silentLogger,
        },
      );
const router = compileRoutes(routes);
const table: CompiledRouteTable = {
  routes,
  services: [service],
  match: (host, method, path, headers) => router.match(host, method, path, headers),
  plugins: () => chain,
  close: () => {
    for (const p of chain) p.close?.();
  },
};

const client = await connect({ servers: natsUrl, name: 'bench-gateway' });
const accessLog =
  accessLogPath === undefined
    ? undefined
    : new AccessLog({ path: accessLogPath, logger: silentLogger });
const gateway = new Gateway({
  client,
  table,
  listeners: [{ port: 0, host: '127.0.0.1' }],
  ...(accessLog !== undefined ? { accessLog } : {}),
});
await gateway.start();
await gateway.whenReady();
process.stdout.write(`${JSON.stringify({ port: gateway.addresses()[0]!.port })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await gateway.close(2000);
  await accessLog?.close();
  await client.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
