/**
 * `roster/client`: register this process's instances, discover and watch others.
 */
export { type ConnectOptions, connect, type RegisterInput, RosterClient } from './client.js';
export { type DeregisterOptions, type InstancePatch, Registration } from './registration.js';
export { ServiceView, type ViewEvent } from './service-view.js';
export { ClientSession } from './session.js';
export { ServiceWatch, type WatchEvent, type WatchOptions } from './watch.js';
