// The example LiveStreams in deploy/examples, loaded once for the golden and property tests.
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { LiveStream } from '../../src/api/livestream.ts';

export const EXAMPLES_DIR = new URL('../../deploy/examples/', import.meta.url);

export function examples(): { file: string; stream: LiveStream }[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const stream = parse(readFileSync(new URL(file, EXAMPLES_DIR), 'utf8')) as LiveStream;
      stream.metadata.uid = `uid-${stream.metadata.name}`;
      return { file, stream };
    });
}
