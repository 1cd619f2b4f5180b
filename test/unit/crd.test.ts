import { Environment } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { liveStreamCrd } from '../../src/api/crd.ts';
import { type LiveStreamSpec, resolveSpec } from '../../src/api/livestream.ts';
import { parseQuantity } from '../../src/controller/quantity.ts';
import { INVALID } from '../cases/invalid-livestreams.ts';
import { examples } from './examples.ts';

type Json = Record<string, unknown> & { properties?: Record<string, Json>; items?: Json; additionalProperties?: Json };
type Rule = { rule: string; message: string; fieldPath?: string };

const root = (liveStreamCrd() as { spec: { versions: { schema: { openAPIV3Schema: Json } }[] } }).spec.versions[0]!
  .schema.openAPIV3Schema;

function walk(node: Json, path: string, visit: (n: Json, p: string) => void): void {
  visit(node, path);
  for (const [k, child] of Object.entries(node.properties ?? {})) walk(child, `${path}.${k}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === 'object')
    walk(node.additionalProperties, `${path}{}`, visit);
}

describe('the generated CRD', () => {
  it('describes every field of spec and status (kubectl explain)', () => {
    const missing: string[] = [];
    const props = root.properties!;
    for (const part of ['spec', 'status']) walk(props[part]!, part, (n, p) => n.description || missing.push(p));
    expect(missing).toEqual([]);
  });

  it('is structural: every node has a type, no anyOf/const, no additionalProperties next to properties', () => {
    const bad: string[] = [];
    // The one anyOf a structural schema allows: int-or-string, exactly as Kubernetes writes it.
    const intOrString = (n: Record<string, unknown>) =>
      n['x-kubernetes-int-or-string'] === true &&
      JSON.stringify(n.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
    walk(root, '', (n, p) => {
      if (p !== '.metadata' && !n.type && !n['x-kubernetes-int-or-string']) bad.push(`${p}: no type`);
      if (('anyOf' in n && !intOrString(n)) || 'const' in n || 'patternProperties' in n)
        bad.push(`${p}: non-structural keyword`);
      if (n.properties && n.additionalProperties !== undefined) bad.push(`${p}: properties with additionalProperties`);
    });
    expect(bad).toEqual([]);
  });

  it('has CEL rules whose messages name the field they reject', () => {
    const rules: Rule[] = [];
    walk(root, '', (n) => rules.push(...((n['x-kubernetes-validations'] ?? []) as Rule[])));
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const r of rules) expect(r.message).toMatch(/(spec\.[a-zA-Z.]+|metadata\.name)/);
  });
});

/** Kubernetes' CEL quantity library, as much of it as the rules use: quantity(string) and compareTo. */
class Quantity {
  readonly num: bigint;
  readonly scale: number;
  constructor(s: string) {
    const q = parseQuantity(s);
    if (!q) throw new Error(`invalid quantity ${s}`);
    this.num = q.num;
    this.scale = q.scale;
  }
}
const cel = new Environment({ unlistedVariablesAreDyn: true })
  .registerType('Quantity', Quantity)
  .registerFunction('quantity(string): Quantity', (s: string) => new Quantity(s))
  .registerFunction('Quantity.compareTo(Quantity): int', (a: Quantity, b: Quantity) => {
    const scale = Math.max(a.scale, b.scale);
    const x = a.num * 10n ** BigInt(scale - a.scale);
    const y = b.num * 10n ** BigInt(scale - b.scale);
    return x < y ? -1n : x > y ? 1n : 0n;
  });
const evaluate = (rule: string, ctx: Record<string, unknown>) => cel.evaluate(rule, ctx);

/** Evaluates every CEL rule on the defaulted object the way the API server does: at the node the rule sits on. */
function celErrors(obj: Json, old?: Json): string[] {
  const errors: string[] = [];
  const visit = (node: Json, value: unknown, oldValue: unknown) => {
    if (value === undefined) return;
    for (const r of (node['x-kubernetes-validations'] ?? []) as Rule[]) {
      if (r.rule.includes('oldSelf') && oldValue === undefined) continue;
      if (!evaluate(r.rule, { self: value, oldSelf: oldValue })) errors.push(r.message);
    }
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      visit(child, (value as Json)?.[k], (oldValue as Json | undefined)?.[k]);
    }
    // List items (spec.restream[]): each against the item schema's rules; no oldSelf for items here.
    if (node.items && Array.isArray(value)) for (const item of value) visit(node.items, item, undefined);
  };
  visit(root, obj, old);
  return errors;
}

const object = (name: string, spec: Record<string, unknown>) => ({
  metadata: { name },
  spec: resolveSpec(name, spec as LiveStreamSpec) as unknown as Json,
});

describe('CEL rules (evaluated locally; the integration tests send the same cases to a real API server)', () => {
  for (const c of INVALID.filter((x) => x.cel)) {
    it(`rejects: ${c.title}`, () => {
      const errors = celErrors(object(c.name ?? 'stream', c.spec));
      expect(errors.length).toBe(1);
      const message = errors[0]!;
      for (const e of c.expect.filter((s) => !s.startsWith('spec.') || s.includes(' '))) expect(message).toContain(e);
    });
  }

  it('accepts every example', () => {
    for (const { stream } of examples())
      expect(celErrors(object(stream.metadata.name, stream.spec as never))).toEqual([]);
  });

  it('keeps storageClassName immutable once set, but lets it be set the first time', () => {
    const rec = (sc?: string) =>
      object('s', { recording: { enabled: true, storage: sc ? { storageClassName: sc } : {} } });
    expect(celErrors(rec('fast'), rec('standard'))).toEqual([
      'spec.recording.storage.storageClassName is immutable once set',
    ]);
    expect(celErrors(rec(), rec('standard'))).toEqual([
      'spec.recording.storage.storageClassName is immutable once set',
    ]);
    expect(celErrors(rec('standard'), rec())).toEqual([]);
    expect(celErrors(rec('standard'), rec('standard'))).toEqual([]);
  });

  it('lets spec.recording.storage.size grow, never shrink (quantities compared by value)', () => {
    const rec = (size: string | number) => object('s', { recording: { enabled: true, storage: { size } } });
    const shrink = [
      'spec.recording.storage.size may grow but not shrink: a PersistentVolumeClaim cannot be made smaller',
    ];
    expect(celErrors(rec('5Gi'), rec('10Gi'))).toEqual(shrink);
    expect(celErrors(rec('9000Mi'), rec('10Gi'))).toEqual(shrink);
    expect(celErrors(rec(1000), rec('1Ki'))).toEqual(shrink);
    expect(celErrors(rec('20Gi'), rec('10Gi'))).toEqual([]);
    expect(celErrors(rec('10240Mi'), rec('10Gi'))).toEqual([]);
    expect(celErrors(rec('11G'), rec('10Gi'))).toEqual([]);
  });

  it('accepts retention 0s (keep forever) with any segment length', () => {
    expect(celErrors(object('s', { recording: { segmentDuration: '24h', retention: '0s' } }))).toEqual([]);
  });
});
