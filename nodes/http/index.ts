/**
 * The registry node's HTTP + WebSocket API and dashboard (see server.ts).
 */
export { PUBLIC_PARTS, type PublicPart, parsePublicParts } from './auth.js';
export type { ClusterView, NodeView } from './cluster-view.js';
export type { OpenedSession, SessionState } from './http-sessions.js';
export { openApiDocument } from './openapi.js';
export type { RouteSpec } from './router.js';
export {
  NodeHttpApi,
  type NodeHttpOptions,
  type NodeHttpServer,
  startNodeHttpServer,
} from './server.js';
export { SLOW_CONSUMER_CODE, type WatchMessage, type WatchStreamOptions } from './watch-stream.js';
