/**
 * The one registry of Roster error codes. Every error that crosses a process boundary is one
 * of these, sent as `{ code, message, data }` and rebuilt as a RosterError on the other side.
 * docs/errors.md lists the same codes; test/unit/errors-doc.test.ts keeps the two in sync.
 */

export const ErrorCodes = {
  ROSTER_ERR_INVALID_MESSAGE: { status: 400, message: 'Message failed validation' },
  ROSTER_ERR_MESSAGE_TOO_LARGE: { status: 413, message: 'Message exceeds the size limit' },
  ROSTER_ERR_UNSUPPORTED_VERSION: { status: 400, message: 'Unsupported protocol version' },
  ROSTER_ERR_DECODE: { status: 400, message: 'Bytes are not a valid Roster envelope' },
  ROSTER_ERR_INVALID_SUBJECT: { status: 400, message: 'Subject token is not allowed' },
  ROSTER_ERR_INVALID_ARGUMENT: { status: 400, message: 'Invalid argument' },
  ROSTER_ERR_TIMEOUT: { status: 504, message: 'Request timed out' },
  ROSTER_ERR_NO_RESPONDERS: { status: 503, message: 'No responders for the request' },
  ROSTER_ERR_BUS_CLOSED: { status: 503, message: 'The bus is closed' },
  ROSTER_ERR_NOT_CONNECTED: { status: 503, message: 'Not connected to the bus' },
  ROSTER_ERR_UNAUTHORIZED: { status: 401, message: 'Authentication required or failed' },
  ROSTER_ERR_FORBIDDEN: { status: 403, message: 'Not allowed' },
  ROSTER_ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  ROSTER_ERR_UNKNOWN_SESSION: { status: 404, message: 'Unknown or expired session' },
  ROSTER_ERR_SESSION_SECRET: { status: 403, message: 'Session secret does not match' },
  ROSTER_ERR_CONFLICT: { status: 409, message: 'Conflicting change' },
  ROSTER_ERR_NOT_READY: { status: 503, message: 'Node is still catching up' },
  ROSTER_ERR_LIMIT_EXCEEDED: { status: 429, message: 'A configured limit was exceeded' },
  ROSTER_ERR_CONFIG: { status: 400, message: 'Invalid configuration' },
  ROSTER_ERR_NATS_SERVER_MISSING: { status: 500, message: 'No nats-server binary could be found' },
  ROSTER_ERR_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export const errorCodeList = Object.keys(ErrorCodes) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** Plain JSON-safe data attached to an error. */
export type ErrorData = Readonly<Record<string, string | number | boolean | null>>;

/** The wire form of an error. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly data?: ErrorData;
}

export class RosterError extends Error {
  override readonly name = 'RosterError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly data: ErrorData | undefined;

  constructor(code: ErrorCode, message?: string, data?: ErrorData, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code].message, options);
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.data = data;
  }

  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  /** Rebuilds an error received from the wire; an unknown code becomes ROSTER_ERR_INTERNAL. */
  static fromWire(wire: { code: string; message: string; data?: ErrorData }): RosterError {
    const code = isErrorCode(wire.code) ? wire.code : 'ROSTER_ERR_INTERNAL';
    return new RosterError(code, wire.message, wire.data);
  }
}

export function isRosterError(err: unknown, code?: ErrorCode): err is RosterError {
  return err instanceof RosterError && (code === undefined || err.code === code);
}
