// One pino logger per process. Redaction is a second line of defence: code never logs a credential on purpose.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'password',
  'token',
  'query',
  '*.password',
  '*.token',
  '*.query',
  'authorization',
  '*.authorization',
  'stringData',
  'data',
  '*.stringData',
  '*.data',
];

export function createLogger(
  name: string,
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
  opts: { redact?: boolean } = {},
): Logger {
  const redact = opts.redact === false ? {} : { redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return pino({ name, level, ...redact, ...LOG_FORMAT, base: { component: name } }, destination);
}

/**
 * What log collectors (Loki, Elasticsearch, Cloud Logging) parse without configuration: `"level":"info"` rather than
 * pino's numbers, and `"time":"2026-01-02T03:04:05.678Z"` (ISO 8601, UTC) rather than epoch milliseconds.
 */
export const LOG_FORMAT = {
  formatters: { level: (label: string) => ({ level: label }) },
  timestamp: pino.stdTimeFunctions.isoTime,
} satisfies pino.LoggerOptions;
