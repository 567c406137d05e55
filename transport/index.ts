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
  buildConnectionOptions,
  connectNatsBus,
  type NatsBus,
  type NatsBusOptions,
  type NatsTlsOptions,
  natsBusFromConnection,
  readNkeySeedFile,
  toRosterError,
} from './nats-bus.js';
export {
  hasWildcard,
  isValidPublishSubject,
  isValidSubject,
  isValidSubscribeSubject,
  subjectMatches,
} from './subject-match.js';
export { checkMillis } from './validate.js';
