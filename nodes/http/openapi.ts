/**
 * The OpenAPI 3.1 document of the node's HTTP API, served at `/openapi.json`: its operations
 * here, its component schemas in openapi-schemas.ts. Hand-written;
 * test/unit/node-http-openapi.test.ts checks that it lists exactly the server's routes.
 */
import { error, type Json, type JsonObject, json, obj, ref, text } from './openapi-builders.js';
import { schemas } from './openapi-schemas.js';

/** Errors every protected operation may answer. */
const COMMON_ERRORS: JsonObject = {
  '401': error('ROSTER_ERR_UNAUTHORIZED: a bearer token is required and missing or wrong.'),
  '503': error('ROSTER_ERR_NOT_READY: the node is still catching up with the cluster.'),
};

const NAME_PARAM: JsonObject = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'Service name (a subject token).',
  schema: ref('ServiceName'),
};
const INSTANCE_PARAM: JsonObject = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Instance id, chosen by the client.',
  schema: ref('Id'),
};
const SESSION_PARAM: JsonObject = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Session id, as returned by POST /v1/sessions.',
  schema: ref('Id'),
};
const SECRET_HEADER: JsonObject = {
  name: 'X-Roster-Session-Secret',
  in: 'header',
  required: false,
  description: 'The session secret (or `?secret=`, or `secret` in a JSON body).',
  schema: ref('Secret'),
};
const SECRET_QUERY: JsonObject = {
  name: 'secret',
  in: 'query',
  required: false,
  description: 'The session secret, when the header is not used.',
  schema: ref('Secret'),
};

/** Public by option (`--http-public`): the token is optional then. */
const PUBLIC_BY_OPTION: Json[] = [{}, { bearerAuth: [] }];
/** Never needs the token. */
const OPEN: Json[] = [];

const paths: JsonObject = {
  '/v1/services': {
    get: {
      operationId: 'listServices',
      summary: 'The catalog: every service with its instance and passing counts.',
      tags: ['registry'],
      responses: { '200': json(ref('Catalog'), 'The catalog.'), ...COMMON_ERRORS },
    },
  },
  '/v1/services/{name}': {
    get: {
      operationId: 'getService',
      summary: "One service's instances (sorted by id) and its revision.",
      tags: ['registry'],
      parameters: [NAME_PARAM],
      responses: {
        '200': json(ref('ServiceInstances'), 'The instances (empty when none is registered).'),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: the name is not a valid service name.'),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/services/{name}/instances/{id}': {
    put: {
      operationId: 'registerInstance',
      summary: 'Registers (or replaces) an instance under a session.',
      description:
        'The session is created here when the node does not know it yet (with `ttlMs`), and moved here when another node owned it: after its node died, a client re-sends its registrations to another node with the same session id and secret.',
      tags: ['sessions'],
      parameters: [NAME_PARAM, INSTANCE_PARAM],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: ref('RegisterBody') } },
      },
      responses: {
        '200': json(ref('RegisterReply'), 'Registered; this node owns the session now.'),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: a field failed validation (`data.path`).'),
        '403': error('ROSTER_ERR_SESSION_SECRET: the secret does not match the session.'),
        '413': error('ROSTER_ERR_MESSAGE_TOO_LARGE: the body exceeds 64 KiB.'),
        '429': error('ROSTER_ERR_LIMIT_EXCEEDED: the session holds too many instances.'),
        ...COMMON_ERRORS,
      },
    },
    delete: {
      operationId: 'deregisterInstance',
      summary: 'Deregisters an instance of the session.',
      tags: ['sessions'],
      parameters: [
        NAME_PARAM,
        INSTANCE_PARAM,
        {
          name: 'sessionId',
          in: 'query',
          required: false,
          description: 'The session id (or the X-Roster-Session-Id header).',
          schema: ref('Id'),
        },
        {
          name: 'X-Roster-Session-Id',
          in: 'header',
          required: false,
          schema: ref('Id'),
        },
        SECRET_QUERY,
        SECRET_HEADER,
      ],
      responses: {
        '200': json(
          obj({ service: ref('ServiceName'), id: ref('Id'), removed: { const: true } }),
          'Removed.',
        ),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: session id or secret missing or malformed.'),
        '403': error('ROSTER_ERR_SESSION_SECRET: the secret does not match the session.'),
        '404': error(
          'ROSTER_ERR_NOT_FOUND (no such instance in the session) or ROSTER_ERR_UNKNOWN_SESSION (the node does not own the session).',
        ),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/nodes': {
    get: {
      operationId: 'listNodes',
      summary: "The cluster view: every registry node's state.",
      description:
        'Asked of every node at once over the bus (scatter-gather); nodes that did not answer but are in the peer table are listed with `answered: false`.',
      tags: ['cluster'],
      responses: { '200': json(ref('ClusterView'), 'The cluster view.'), ...COMMON_ERRORS },
    },
  },
  '/v1/health': {
    get: {
      operationId: 'health',
      summary: "This node's health: ready, digest, counts and its peer table.",
      tags: ['cluster'],
      security: PUBLIC_BY_OPTION,
      responses: {
        '200': json(ref('Health'), 'Ready.'),
        '401': COMMON_ERRORS['401']!,
        '503': json(ref('Health'), 'Still catching up.'),
      },
    },
  },
  '/v1/sessions': {
    post: {
      operationId: 'openSession',
      summary: 'Opens a session for a client that does not speak NATS.',
      description:
        'Returns the id and secret. Renew the session well within `ttlMs` (POST /v1/sessions/{id}/renew) or it expires with its instances.',
      tags: ['sessions'],
      requestBody: {
        required: false,
        content: { 'application/json': { schema: ref('OpenSessionBody') } },
      },
      responses: {
        '201': json(ref('OpenedSession'), 'Opened.'),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: a field failed validation.'),
        '429': error('ROSTER_ERR_LIMIT_EXCEEDED: too many sessions without instances.'),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/sessions/{id}/renew': {
    post: {
      operationId: 'renewSession',
      summary: 'Renews the session lease for another TTL.',
      tags: ['sessions'],
      parameters: [SESSION_PARAM, SECRET_HEADER, SECRET_QUERY],
      requestBody: {
        required: false,
        content: { 'application/json': { schema: obj({ secret: ref('Secret') }) } },
      },
      responses: {
        '200': json(ref('SessionState'), 'Renewed.'),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: secret missing or malformed.'),
        '403': error('ROSTER_ERR_SESSION_SECRET: the secret does not match.'),
        '404': error(
          'ROSTER_ERR_UNKNOWN_SESSION: expired, or owned by another node (register again).',
        ),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/sessions/{id}': {
    delete: {
      operationId: 'closeSession',
      summary: 'Closes the session and deregisters every instance it holds.',
      tags: ['sessions'],
      parameters: [SESSION_PARAM, SECRET_HEADER, SECRET_QUERY],
      responses: {
        '200': json(obj({ sessionId: ref('Id'), closed: { const: true } }), 'Closed.'),
        '400': error('ROSTER_ERR_INVALID_MESSAGE: secret missing or malformed.'),
        '403': error('ROSTER_ERR_SESSION_SECRET: the secret does not match.'),
        '404': error('ROSTER_ERR_UNKNOWN_SESSION: expired, or owned by another node.'),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/watch': {
    get: {
      operationId: 'watch',
      summary: 'WebSocket watch stream: a snapshot, then every change (list+watch).',
      description:
        'Upgrade to a WebSocket. Text frames carry `WatchMessage`s: first the snapshot, then one message per change this node applies, none missed and none twice. The node pings every 15 s; a stream whose consumer falls more than 1 MiB behind is closed with code 1013 (reconnect for a fresh snapshot). Browsers pass the token as `?token=`.',
      tags: ['registry'],
      parameters: [
        {
          name: 'service',
          in: 'query',
          required: false,
          description: 'Watch one service (default: every service).',
          schema: ref('ServiceName'),
        },
        {
          name: 'token',
          in: 'query',
          required: false,
          description: 'The bearer token, for clients that cannot set headers.',
          schema: { type: 'string' },
        },
      ],
      responses: {
        '101': json(ref('WatchMessage'), 'Switching protocols: the stream follows.'),
        '400': error('ROSTER_ERR_INVALID_ARGUMENT (not an upgrade) or an invalid service name.'),
        '429': error('ROSTER_ERR_LIMIT_EXCEEDED: too many watch streams.'),
        ...COMMON_ERRORS,
      },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'openapi',
      summary: 'This document.',
      tags: ['meta'],
      security: PUBLIC_BY_OPTION,
      responses: { '200': json({ type: 'object' }, 'The OpenAPI 3.1 document.') },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics',
      summary: 'Prometheus metrics (text format 0.0.4); docs/metrics.md lists them.',
      tags: ['meta'],
      security: PUBLIC_BY_OPTION,
      responses: {
        '200': text('text/plain; version=0.0.4', 'The metrics.'),
        '401': COMMON_ERRORS['401']!,
      },
    },
  },
  '/healthz': {
    get: {
      operationId: 'liveness',
      summary: 'Liveness probe: the process is up.',
      tags: ['meta'],
      security: OPEN,
      responses: { '200': text('text/plain', '`ok`') },
    },
  },
  '/readyz': {
    get: {
      operationId: 'readiness',
      summary: 'Readiness probe: 200 once the node serves queries, else 503.',
      tags: ['meta'],
      security: OPEN,
      responses: {
        '200': text('text/plain', '`ready`'),
        '503': text('text/plain', '`not ready`'),
      },
    },
  },
  '/': {
    get: {
      operationId: 'root',
      summary: 'Redirects to the dashboard.',
      tags: ['dashboard'],
      security: OPEN,
      responses: { '302': { description: 'To /ui/.' } },
    },
  },
  '/ui': {
    get: {
      operationId: 'dashboardRedirect',
      summary: 'Redirects to /ui/ (keeping the query).',
      tags: ['dashboard'],
      security: OPEN,
      responses: { '302': { description: 'To /ui/.' } },
    },
  },
  '/ui/': {
    get: {
      operationId: 'dashboard',
      summary: 'The live dashboard: nodes, services, instances and an event feed.',
      description: 'Pass the token once as `/ui/?token=…`; the page keeps it for the tab.',
      tags: ['dashboard'],
      security: PUBLIC_BY_OPTION,
      responses: { '200': text('text/html', 'The page.') },
    },
  },
  '/ui/app.js': {
    get: {
      operationId: 'dashboardScript',
      summary: "The dashboard's script.",
      tags: ['dashboard'],
      security: PUBLIC_BY_OPTION,
      responses: { '200': text('text/javascript', 'The script.') },
    },
  },
  '/ui/style.css': {
    get: {
      operationId: 'dashboardStyle',
      summary: "The dashboard's style sheet.",
      tags: ['dashboard'],
      security: PUBLIC_BY_OPTION,
      responses: { '200': text('text/css', 'The style sheet.') },
    },
  },
};

const DOCUMENT: JsonObject = {
  openapi: '3.1.0',
  info: {
    title: 'Roster registry node API',
    version: '1.0.0',
    description:
      'Served by every registry node (`roster node --http-port`). Protected operations need `Authorization: Bearer <token>` when the node runs with --http-token. Errors are `{ code, message, data }` with the status of the error registry (docs/errors.md).',
    license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  },
  tags: [
    { name: 'registry', description: 'Services and instances.' },
    { name: 'sessions', description: 'Registration for clients that do not speak NATS.' },
    { name: 'cluster', description: 'Registry nodes.' },
    { name: 'meta', description: 'Documents, metrics and probes.' },
    { name: 'dashboard', description: 'The web dashboard.' },
  ],
  security: [{ bearerAuth: [] }],
  paths,
  components: {
    securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
    schemas,
  },
};

/** The document (a fresh deep copy, safe to modify). */
export function openApiDocument(): JsonObject {
  return structuredClone(DOCUMENT);
}

let serialized: string | undefined;

/** The document as JSON text (serialized once). */
export function openApiJson(): string {
  serialized ??= JSON.stringify(DOCUMENT);
  return serialized;
}
