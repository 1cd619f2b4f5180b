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
): Logger {
  return pino(
    { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { component: name } },
    destination,
  );
}
