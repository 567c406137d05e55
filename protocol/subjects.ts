/**
 * Subject layout. Every subject is `<prefix>.<protocol version>.<...>`, so clusters and
 * environments share one NATS system safely, and the service name sits in the subjects a
 * client uses so that NATS permissions decide who may register or watch what.
 */
import { RosterError } from './errors.js';
import { Limits } from './limits.js';
import type { Change } from './messages.js';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_PREFIX = 'roster';
/** The queue group every registry node joins for load-balanced requests. */
export const NODE_QUEUE_GROUP = 'roster-nodes';

export const SERVICE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
/** A subject token: no dots, wildcards or white space. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Node and instance ids: token-safe characters only, so ids can sit inside subjects too. */
export const ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_:.-]*$/;
const NODE_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

export function isServiceName(value: string): boolean {
  return (
    value.length > 0 &&
    value.length <= Limits.maxServiceNameLength &&
    SERVICE_NAME_PATTERN.test(value)
  );
}

export function assertServiceName(value: string): string {
  if (!isServiceName(value)) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_SUBJECT',
      `invalid service name ${JSON.stringify(value.slice(0, 80))}: use 1-${Limits.maxServiceNameLength} characters of [a-z0-9_-], starting with a letter or digit`,
      { field: 'service' },
    );
  }
  return value;
}

export function assertNodeId(value: string): string {
  if (value.length === 0 || value.length > Limits.maxIdLength || !NODE_ID_PATTERN.test(value)) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_SUBJECT',
      `invalid node id ${JSON.stringify(value.slice(0, 80))}: use [A-Za-z0-9_-]`,
      {
        field: 'nodeId',
      },
    );
  }
  return value;
}

function assertPrefix(prefix: string): string {
  const tokens = prefix.split('.');
  if (prefix.length > 128 || tokens.some((t) => !TOKEN_PATTERN.test(t))) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_SUBJECT',
      `invalid subject prefix ${JSON.stringify(prefix)}`,
      { field: 'prefix' },
    );
  }
  return prefix;
}

/** The service an instance change belongs to; undefined for session changes. */
export function changeService(change: Change): string | undefined {
  return change.op === 'put'
    ? change.instance.service
    : change.op === 'del'
      ? change.service
      : undefined;
}

/** Builds every subject Roster uses, under one prefix and protocol version. */
export class Subjects {
  readonly prefix: string;
  /** `<prefix>.v<N>`: the root of every subject. */
  readonly root: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = assertPrefix(prefix);
    this.root = `${prefix}.v${PROTOCOL_VERSION}`;
  }

  // --- broadcast (published by registry nodes only) ---
  /** Deltas of one service. */
  delta(service: string): string {
    return `${this.root}.delta.${assertServiceName(service)}`;
  }
  /** Every service's deltas (subscribe only). */
  get deltaAll(): string {
    return `${this.root}.delta.*`;
  }
  /** Session lifecycle changes (not tied to a service). */
  get sessionDelta(): string {
    return `${this.root}.sessions`;
  }
  /** Where a change is published: its service's delta subject, or the session subject. */
  forChange(change: Change): string {
    const service = changeService(change);
    return service === undefined ? this.sessionDelta : this.delta(service);
  }
  /** Node heartbeats with version vector and digest. */
  get heartbeat(): string {
    return `${this.root}.hb`;
  }

  // --- requests to the node queue group ---
  /** Registration of an instance of `service` (queue group; also used to re-register). */
  register(service: string): string {
    return `${this.root}.reg.${assertServiceName(service)}`;
  }
  /** Registration sent straight to the node that owns the caller's session. */
  registerAt(service: string, nodeId: string): string {
    return `${this.root}.reg.${assertServiceName(service)}.${assertNodeId(nodeId)}`;
  }
  get registerAny(): string {
    return `${this.root}.reg.*`;
  }
  registerAnyAt(nodeId: string): string {
    return `${this.root}.reg.*.${assertNodeId(nodeId)}`;
  }
  /** Query one service (queue group). */
  query(service: string): string {
    return `${this.root}.query.${assertServiceName(service)}`;
  }
  get queryAny(): string {
    return `${this.root}.query.*`;
  }
  /** Query the service catalogue (queue group). */
  get catalog(): string {
    return `${this.root}.catalog`;
  }

  // --- requests to one node ---
  /** Session operations (renew, close, update, deregister) at the owning node. */
  session(nodeId: string): string {
    return `${this.root}.node.${assertNodeId(nodeId)}.session`;
  }
  /** Pull a range of an origin's log from a node. */
  pull(nodeId: string): string {
    return `${this.root}.node.${assertNodeId(nodeId)}.pull`;
  }
  /** Page through a node's snapshot. */
  snapshot(nodeId: string): string {
    return `${this.root}.node.${assertNodeId(nodeId)}.snapshot`;
  }

  // --- scatter-gather (every node answers) ---
  /** Cluster view: every node replies with id, incarnation, vector, digest and counts. */
  get clusterInfo(): string {
    return `${this.root}.cluster.info`;
  }
}
