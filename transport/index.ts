/**
 * The transport layer: the Bus contract and its implementations. Import from here
 * (`roster/transport`), not from the individual files.
 */

export type {
  Bus,
  BusCapabilities,
  BusMessage,
  BusStatus,
  BusStatusType,
  BusSubscription,
  MessageHandler,
  RequestOptions,
  ScatterOptions,
  StatusListener,
  SubscribeOptions,
} from './bus.js';
export { createLogger, type Logger, type LoggerOptions, silentLogger } from './logger.js';
export {
  createMemoryBuses,
  MemoryBroker,
  type MemoryBrokerOptions,
  MemoryBus,
  type MemoryBusOptions,
  type QueueStrategy,
} from './memory-bus.js';
export {
  connectNatsBus,
  type NatsBus,
  natsBusFromConnection,
  toRosterError,
} from './nats-bus.js';
export {
  buildConnectionOptions,
  type NatsBusOptions,
  type NatsTlsOptions,
  readNkeySeedFile,
} from './nats-options.js';
export {
  hasWildcard,
  isValidPublishSubject,
  isValidSubject,
  isValidSubscribeSubject,
  subjectMatches,
} from './subject-match.js';
export { checkMillis } from './validate.js';
