import { randomBytes } from 'node:crypto';

/** Publish tokens: URL-safe (they go into RTMP stream keys) and free of ':' (MediaMTX splits Bearer values on it). */
export const newPublishToken = () => randomBytes(24).toString('base64url');

/** Rotation keeps the previous token valid so a streamer that is live is not cut off. */
export function rotateTokens(currentFile: string, fresh = newPublishToken()): string {
  const current = currentFile
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return `${[fresh, ...current.slice(0, 1)].join('\n')}\n`;
}
