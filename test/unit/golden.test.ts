// Golden files: every rendered object of every example. UPDATE_GOLDEN=1 npm run test:unit rewrites them;
// review the diff like code.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { childObjects, internalSecretObject, publishSecretObject, renderStream } from '../../src/render/objects.ts';
import { examples } from './examples.ts';

const GOLDEN = new URL('../golden/', import.meta.url);

describe('renderers match golden files', () => {
  for (const { file, stream } of examples()) {
    it(file, () => {
      const r = renderStream(stream, { sidecarImage: 'ghcr.io/vstream/vstream:0.1.0' });
      const objs = [
        ...childObjects(r),
        ...(r.publishSecret.generated ? [publishSecretObject(stream, '<generated>')] : []),
        internalSecretObject(stream, '<generated>'),
      ];
      const text = objs.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
      const path = new URL(file, GOLDEN);
      if (process.env.UPDATE_GOLDEN) writeFileSync(path, text);
      if (!existsSync(path))
        throw new Error(`missing golden file ${path.pathname}: run UPDATE_GOLDEN=1 npm run test:unit`);
      expect(text).toBe(readFileSync(path, 'utf8'));
    });
  }
});
