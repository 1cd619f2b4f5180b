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
  return pino({ name, level, ...redact, base: { component: name } }, destination);
}
