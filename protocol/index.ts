export * from './codec.js';
export * from './errors.js';
export * from './hlc.js';
export * from './limits.js';
export * from './merge.js';
export * from './messages.js';
export * from './records.js';
export * as schema from './schema.js';
export * from './subjects.js';
