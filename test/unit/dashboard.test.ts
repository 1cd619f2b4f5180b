// The Grafana dashboard the chart ships (charts/vstream/dashboards/vstream.json), checked structurally: a datasource
// variable every query uses, namespace and stream variables, units on every panel, a top row of per-stream stats,
// a grid without overlaps, and only metric names vstream's pods and controller export.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/tools.ts';

type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string }; refId: string }[];
  fieldConfig?: { defaults: { unit?: string } };
};
const dash = JSON.parse(readFileSync(join(REPO_ROOT, 'charts/vstream/dashboards/vstream.json'), 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
  panels: Panel[];
};
/** Grafana's reference to the datasource variable. */
const DS_UID = ['$', '{datasource}'].join('');
const panels = dash.panels.filter((p) => p.type !== 'row');
const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));

// MediaMTX 1.20.1's per-stream series (internal/metrics/metrics.go), the sidecar's, and the controller's.
const KNOWN = new Set([
  'paths',
  'paths_readers',
  'paths_inbound_bytes',
  'paths_outbound_bytes',
  'paths_inbound_frames_in_error',
  'vstream_auth_decisions_total',
  'vstream_auth_decision_seconds_bucket',
  'vstream_livestreams',
  'vstream_livestream_condition',
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_time_seconds_bucket',
  'workqueue_depth',
  'workqueue_unfinished_work_seconds',
  'rest_client_requests_total',
]);
const FUNCS = new Set(['sum', 'max', 'rate', 'increase', 'histogram_quantile', 'by', 'or', 'and', 'label_values']);

describe('the Grafana dashboard', () => {
  it('has a Prometheus datasource variable, and every panel and query uses it', () => {
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: DS_UID });
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(DS_UID);
    }
    for (const v of ['namespace', 'stream']) expect(vars[v]?.datasource?.uid, v).toBe(DS_UID);
  });

  it('has namespace and stream variables, the stream one following the namespace', () => {
    expect(vars.namespace?.type).toBe('query');
    expect(JSON.stringify(vars.namespace?.query)).toContain('stream_namespace');
    expect(JSON.stringify(vars.stream?.query)).toContain('$namespace');
    const streamPanels = panels.filter((p) => p.targets?.some((t) => /paths|vstream_auth/.test(t.expr)));
    expect(streamPanels.length).toBeGreaterThan(5);
    for (const p of streamPanels)
      for (const t of p.targets!)
        expect(t.expr, p.title).toMatch(/stream_namespace=~"\$namespace", stream=~"\$stream"/);
  });

  it('gives every panel a unit, a unique id and refIds', () => {
    for (const p of panels) expect(p.fieldConfig?.defaults.unit, p.title).toBeTruthy();
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      const refs = (p.targets ?? []).map((t) => t.refId);
      expect(refs.length, p.title).toBeGreaterThan(0);
      expect(new Set(refs).size, p.title).toBe(refs.length);
    }
    // Bitrates in bits per second, rates per second, latencies in seconds.
    for (const p of panels.filter((x) => /bitrate/i.test(x.title))) expect(p.fieldConfig?.defaults.unit).toBe('bps');
    for (const p of panels.filter((x) => /latency|time p99/i.test(x.title)))
      expect(p.fieldConfig?.defaults.unit).toBe('s');
  });

  it('opens with a row of per-stream stats', () => {
    const top = panels.filter((p) => p.gridPos.y <= 1);
    expect(top.length).toBeGreaterThanOrEqual(4);
    for (const p of top) {
      expect(p.type, p.title).toBe('stat');
      expect(p.targets![0]!.expr, p.title).toContain('by (stream_namespace, stream)');
    }
    expect(top.map((p) => p.title)).toEqual(expect.arrayContaining(['Live', 'Viewers', 'Ingest bitrate']));
  });

  it('lays panels on the 24-column grid without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dash.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
    }
  });

  it('queries only metric names vstream exports (no per-connection series, which the PodMonitor drops)', () => {
    const unknown = new Set<string>();
    const exprs = [
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dash.templating.list.map((v) => JSON.stringify(v.query)),
    ];
    for (const e of exprs) {
      const stripped = e.replace(/"[^"]*"|\\"[^"]*\\"|\[[^\]]*\]|\$\w+/g, '');
      for (const m of stripped.matchAll(/\b([a-z_][a-z0-9_]*)\s*(?=[{(])/gi)) {
        const name = m[1]!;
        if (!FUNCS.has(name) && !KNOWN.has(name)) unknown.add(name);
      }
      for (const m of stripped.matchAll(/\(\s*([a-z_][a-z0-9_]*)\s*\{/gi)) if (!KNOWN.has(m[1]!)) unknown.add(m[1]!);
    }
    expect([...unknown]).toEqual([]);
  });
});
