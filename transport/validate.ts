import { RosterError } from '../protocol/errors.js';

/**
 * Timeouts and deadlines must be positive, finite milliseconds; ROSTER_ERR_INVALID_ARGUMENT
 * otherwise. Shared by every Bus implementation so they reject the same values.
 */
export function checkMillis(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', `${name} must be a positive number`, {
      [name]: String(value),
    });
  }
}
