/**
 * `roster/node`: the registry node as a library.
 */
export { HealthChecker } from './health-checker.js';
export {
  NodeHttpApi,
  type NodeHttpOptions,
  type NodeHttpServer,
  openApiDocument,
  PUBLIC_PARTS,
  type PublicPart,
  startNodeHttpServer,
  type WatchMessage,
} from './http/index.js';
export type { NodeMetrics } from './node-metrics.js';
export type { RegistryNodeOptions, ResolvedNodeOptions } from './node-options.js';
export { type NodeEventListener, RegistryNode } from './registry-node.js';
export { RegistryStore, type StoreEffect } from './store.js';
