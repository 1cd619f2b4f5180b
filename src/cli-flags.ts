// Validation of command-line values, so a typo stops the command at start with the flag named, instead of becoming
// NaN or 0 somewhere deep inside (a work queue with NaN workers reconciles nothing and says nothing).

import { isIP } from 'node:net';

export class FlagError extends Error {}

/** A whole number ≥ 1; `fallback` when the flag was not given. */
export function positiveInt(flag: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const s = String(value).trim();
  if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s)))
    throw new FlagError(`--${flag} must be a positive whole number, got "${value}"`);
  return Number(s);
}

/** HOST:PORT (HOST may be empty, a name, an IPv4 address or a bracketed IPv6 address); port 0 picks a free one. */
export function hostPort(flag: string, value: string | boolean | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const s = String(value);
  const i = s.lastIndexOf(':');
  const port = s.slice(i + 1);
  if (i < 0 || !/^\d{1,5}$/.test(port) || Number(port) > 65_535)
    throw new FlagError(`--${flag} must be HOST:PORT with a port from 0 to 65535, got "${value}"`);
  return s;
}

/**
 * A HOST:PORT that hostPort accepted, as listen() takes it: an empty host is every IPv4 address, and a bracketed
 * IPv6 address loses its brackets (`[::1]:9000` listens on ::1; with the brackets it was an unknown host name).
 */
export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i);
  return { host: host.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port: Number(s.slice(i + 1)) };
}

export function oneOf<T extends string>(
  flag: string,
  value: string | boolean | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new FlagError(`--${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** A non-empty string option. */
export function nonEmpty(flag: string, value: string | boolean | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.trim()) throw new FlagError(`--${flag} must not be empty`);
  return value;
}

/** A positive duration such as 90s, 30m, 1h30m, in seconds. */
export function positiveDuration(
  flag: string,
  value: string | boolean | undefined,
  fallback: string,
  seconds: (d: string) => number,
): number {
  const s = value === undefined ? fallback : String(value);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s) || !(seconds(s) > 0))
    throw new FlagError(`--${flag} must be a positive duration such as 30m or 1h30m, got "${s}"`);
  return seconds(s);
}

/** An http(s) base URL without a trailing slash. */
export function baseUrl(flag: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.toString().replace(/\/$/, '');
  } catch {
    throw new FlagError(
      `--${flag} must be ${flag === 'probe' ? 'cluster, off or ' : ''}an http(s) URL, got "${value}"`,
    );
  }
}

/** A host clients can reach: an IPv4 or IPv6 address (brackets optional) or a DNS name. Returned bare. */
export function hostAddress(flag: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  const s = String(value)
    .trim()
    .replace(/^\[(.*)\]$/, '$1');
  const dns = /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;
  if (!isIP(s) && !dns.test(s)) throw new FlagError(`--${flag} must be an IP address or a DNS name, got "${value}"`);
  return s;
}
