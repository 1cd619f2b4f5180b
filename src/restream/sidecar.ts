// The restreaming part of the auth sidecar: keeps MediaMTX's `forward` list for the stream's path equal to
// auth.json's targets (with the keys read from the mounted Secret files) and serves each target's state at
// GET /restream on the ops server, where the controller's live loop reads it for status.restream.
// Level-triggered: a MediaMTX config reload (the ConfigMap changed) resets `forward` to the file's (none), a Secret
// rotation changes a key; both are repaired at the next look. src/auth/main.ts imports this module dynamically,
// only when auth.json has a `restream` section.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuthConfig } from '../auth/contract.ts';
import { request } from '../net/http.ts';
import {
  type ForwardDest,
  type ForwardItem,
  forwardDest,
  sameForward,
  type TargetState,
  type TargetStatus,
  targetState,
} from './forward.ts';

export const RESTREAM_STATUS_PATH = '/restream';

const readKey = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
};

export class RestreamSync {
  private readonly opts: { config: () => AuthConfig; api: string; log: Logger; intervalMs?: number };
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly bytes = new Map<string, number>();
  private readonly states = new Map<string, TargetStatus>();
  private failing?: string;
  /** MediaMTX has the destinations (the first look that reached it succeeded): the pod may take streamers. */
  handedOver = false;

  constructor(opts: RestreamSync['opts']) {
    this.opts = opts;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.tick()
        .then(() => {
          this.handedOver = true;
        })
        .catch((e: Error) => {
          // Never the error object itself: a URL in it could carry a key.
          if (this.failing !== e.message) this.opts.log.warn({ error: e.message }, 'restream: cannot reach MediaMTX');
          this.failing = e.message;
        });
      // Until MediaMTX first has the destinations (it starts after this sidecar), look again soon.
      if (!this.stopped) this.timer = setTimeout(loop, this.handedOver ? (this.opts.intervalMs ?? 2_000) : 200);
      this.timer?.unref();
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  status(): { targets: TargetStatus[] } {
    const targets = this.opts.config().restream ?? [];
    return { targets: targets.map((t) => this.states.get(t.name)).filter((s): s is TargetStatus => Boolean(s)) };
  }

  /** One look: repair MediaMTX's forward list if it differs, then read each target's state. Exported for tests. */
  async tick(now = Date.now()): Promise<void> {
    const config = this.opts.config();
    const targets = config.restream ?? [];
    const keys = targets.map((t) => readKey(t.keyFile));
    const secrets = keys.filter((k): k is string => Boolean(k));
    // A target whose key is missing is left out (MediaMTX cannot do anything with it), the others keep going.
    const want: ForwardDest[] = [];
    const posOf = new Map<string, number>();
    targets.forEach((t, i) => {
      const key = keys[i];
      if (!key) return;
      posOf.set(t.name, want.length);
      want.push(forwardDest(t, key));
    });
    const token = readFileSync(config.api.tokenFile, 'utf8').split('\n')[0]?.trim() ?? '';
    const headers = { authorization: `Bearer ${token}` };
    const api = this.opts.api;
    const path = config.path;

    const got = await request(`${api}/v3/config/paths/get/${path}`, { headers, signal: AbortSignal.timeout(2_000) });
    if (got.statusCode !== 200) {
      await got.body.dump();
      throw new Error(`MediaMTX API answered ${got.statusCode} for the path config`);
    }
    const conf = (await got.body.json()) as { forward?: ForwardDest[] };
    if (!sameForward(conf.forward, want)) {
      // `forward` is one of the path settings MediaMTX changes in place (pathConfCanBeUpdated): nobody is dropped.
      const res = await request(`${api}/v3/config/paths/patch/${path}`, {
        method: 'PATCH',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ forward: want }),
        signal: AbortSignal.timeout(2_000),
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`MediaMTX API answered ${res.statusCode} to the forward list`);
      this.opts.log.info({ targets: want.length }, 'restream: destinations handed to MediaMTX');
    }

    let items: ForwardItem[] = [];
    const list = await request(`${api}/v3/paths/forward/list?path=${encodeURIComponent(path)}`, {
      headers,
      signal: AbortSignal.timeout(2_000),
    });
    if (list.statusCode === 200) items = ((await list.body.json()) as { items?: ForwardItem[] }).items ?? [];
    else await list.body.dump(); // 404: the path has no stream now, so no destination runs
    if (this.failing) this.opts.log.info('restream: MediaMTX API reachable again');
    this.failing = undefined;

    const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const seen = new Set<string>();
    for (const [i, t] of targets.entries()) {
      seen.add(t.name);
      // Matched by destination, not position: MediaMTX numbers its destinations itself (from 1).
      const pos = posOf.get(t.name);
      const dest = pos === undefined ? undefined : want[pos]?.dest;
      const item = dest === undefined ? undefined : items.find((it) => it.conf?.dest === dest);
      const next = targetState(item, this.bytes.get(t.name), keys[i] ? undefined : t.secret, secrets);
      if (item?.outboundBytes !== undefined) this.bytes.set(t.name, item.outboundBytes);
      else this.bytes.delete(t.name);
      const prev = this.states.get(t.name);
      // MediaMTX's `forwarding` covers an attempt from its start, so a new attempt after a failure, or a look with no
      // new bytes, reads as Connecting: a target stays Retrying (with its reason) or Connected until media flows
      // again or the attempt fails, and a target failing every 5 s does not flap between two states.
      const holds = next.state === 'Connecting' && (prev?.state === 'Connected' || prev?.state === 'Retrying');
      const state: TargetState = holds && prev ? prev.state : next.state;
      const reason = holds ? prev?.reason : next.reason;
      if (prev && prev.state === state && prev.reason === reason) continue;
      if (prev?.state !== state) this.opts.log.info({ target: t.name, state }, 'restream target');
      this.states.set(t.name, {
        name: t.name,
        state,
        ...(reason ? { reason } : {}),
        since: prev?.state === state ? prev.since : at,
      });
    }
    for (const name of this.states.keys()) if (!seen.has(name)) this.states.delete(name);
  }
}

export function attachRestream(opts: {
  config: () => AuthConfig;
  api: string;
  log: Logger;
  /** The sidecar's ops server (metrics, health), before it listens. */
  ops: FastifyInstance;
  intervalMs?: number;
}): { sync: RestreamSync; stop: () => void } {
  const sync = new RestreamSync(opts);
  // Names, states and reasons without keys: it sits next to /metrics.
  opts.ops.get(RESTREAM_STATUS_PATH, async () => sync.status());
  sync.start();
  return { sync, stop: () => sync.stop() };
}
