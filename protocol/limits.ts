/**
 * Every size the protocol accepts is bounded here. Decoders reject anything larger with a
 * typed error before it reaches the store. Values are the defaults; the node and client may
 * lower maxMessageBytes to match the NATS server's max_payload.
 */
export const Limits = {
  /** One encoded message (envelope included). */
  maxMessageBytes: 1024 * 1024,
  /** Service names are subject tokens: `[a-z0-9][a-z0-9-_]*`. */
  maxServiceNameLength: 64,
  /** Instance, session and node ids. */
  maxIdLength: 128,
  maxHostLength: 253,
  maxTags: 64,
  maxTagLength: 128,
  maxMetaKeys: 64,
  maxMetaKeyLength: 128,
  maxMetaValueLength: 1024,
  maxZoneLength: 64,
  maxVersionLength: 64,
  maxWeight: 10_000,
  /** Records in one batch (snapshot chunk, pull range, query page). */
  maxBatch: 5_000,
  /** Origins in one version vector. */
  maxVectorEntries: 1_024,
  /** Free-text fields: error messages, reasons, names. */
  maxTextLength: 1_024,
  /** Path of an HTTP health check. */
  maxPathLength: 1_024,
  minTtlMs: 1_000,
  maxTtlMs: 3_600_000,
  defaultTtlMs: 6_000,
} as const;

export type LimitsConfig = typeof Limits;
