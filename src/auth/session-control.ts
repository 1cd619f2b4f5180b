// spec.enabled and spec.ingest.maxDuration, enforced in the pod (so they hold while the controller is down):
//   - enabled: false denies every publish (decide.ts, reason stream_disabled) and ends the session on air;
//   - maxDurationSeconds ends a publish session that long after it went online, and remembers that it did so (the
//     controller reads the endings from GET /control and records an Event for each).
// The persistent source is auth.json (publish.enabled), but kubelet brings a ConfigMap change into the pod only after
// up to about a minute; so the controller also pushes the state here (POST /control) the moment the spec changes, and
// that push wins until auth.json itself changes to the same value (a later file version is then the truth again).
// Sessions are ended through MediaMTX's control API (POST /v3/<kind>/kick/<id>), from the publisher guard's poll of
// the path (./publisher.ts), which runs every 500 ms: a session ends at most about half a second after its limit.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AuthConfig } from './contract.ts';
import type { TokenSet } from './keys.ts';

/** The path's publisher as MediaMTX's GET /v3/paths/get/<path> reports it. */
export interface PathSnapshot {
  online: boolean;
  source?: { id: string; type: string };
  /** When the path went online (MediaMTX 1.20.1's onlineTime). */
  onlineTime?: string;
}

/** MediaMTX 1.20.1 source types -> their kick endpoint (internal/api/api.go). */
export const KICK_PATHS: Record<string, string> = {
  rtmpConn: 'rtmpconns',
  rtmpsConn: 'rtmpsconns',
  srtConn: 'srtconns',
  webRTCSession: 'webrtcsessions',
  rtspSession: 'rtspsessions',
  rtspsSession: 'rtspssessions',
  moqSession: 'moqsessions',
};

export type KickReason = 'stream_disabled' | 'max_duration';

/**
 * Whether the session on air must end, and why. Pure: `startedAt` is when the session went online (MediaMTX's
 * onlineTime, else when the sidecar first saw it).
 */
export function sessionVerdict(
  snap: PathSnapshot,
  o: { enabled: boolean; maxDurationSeconds?: number | undefined; startedAt?: number | undefined; now: number },
): KickReason | undefined {
  if (!snap.online || !snap.source) return undefined;
  if (!o.enabled) return 'stream_disabled';
  if (o.maxDurationSeconds && o.startedAt !== undefined && o.now - o.startedAt >= o.maxDurationSeconds * 1000)
    return 'max_duration';
  return undefined;
}

/** One session the sidecar ended at the limit; `seq` grows by one per ending, so a reader sees what is new. */
export interface Ending {
  seq: number;
  id: string;
  type: string;
  startedAt: string;
  endedAt: string;
  limitSeconds: number;
}

/** GET/POST /control's answer. */
export interface ControlState {
  /** What the sidecar enforces now. */
  enabled: boolean;
  /** What auth.json says (it lags a controller push by up to about a minute). */
  fileEnabled: boolean;
  maxDurationSeconds?: number;
  /** The last endings at the limit (at most MAX_ENDINGS), oldest first. */
  endings: Ending[];
}

export const CONTROL_PATH = '/control';
const MAX_ENDINGS = 16;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface SessionControlOptions {
  config: () => AuthConfig;
  /** Ends a session through MediaMTX's API; resolves false when MediaMTX refused or could not be reached. */
  kick: (kind: string, id: string) => Promise<boolean>;
  log: Logger;
  now?: () => number;
}

export class SessionControl {
  private override?: boolean;
  /** The config object the override was set against: only a later auth.json can clear it. */
  private overrideConfig?: AuthConfig;
  private readonly firstSeen = new Map<string, number>();
  private readonly endings: Ending[] = [];
  private seq = 0;
  private readonly opts: SessionControlOptions;
  private readonly now: () => number;

  constructor(opts: SessionControlOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Whether publishing is allowed now: the controller's push until auth.json changes to agree with it. */
  enabled(): boolean {
    const config = this.opts.config();
    const file = config.publish.enabled ?? true;
    if (this.override !== undefined && config !== this.overrideConfig && file === this.override) {
      this.override = undefined;
      this.overrideConfig = undefined;
    }
    return this.override ?? file;
  }

  /** The controller's push. */
  setEnabled(enabled: boolean): void {
    this.override = enabled;
    this.overrideConfig = this.opts.config();
  }

  state(): ControlState {
    const config = this.opts.config();
    const max = config.publish.maxDurationSeconds;
    return {
      enabled: this.enabled(),
      fileEnabled: config.publish.enabled ?? true,
      ...(max ? { maxDurationSeconds: max } : {}),
      endings: [...this.endings],
    };
  }

  /** Whether the guard has a reason to watch the path (a limit or a switch-off to enforce). */
  active(): boolean {
    return !this.enabled() || Boolean(this.opts.config().publish.maxDurationSeconds);
  }

  /** Called with every look at the path: ends the session on air when it must end. */
  async enforce(snap: PathSnapshot): Promise<KickReason | undefined> {
    const now = this.now();
    const id = snap.online ? snap.source?.id : undefined;
    for (const k of this.firstSeen.keys()) if (k !== id) this.firstSeen.delete(k);
    if (id && !this.firstSeen.has(id)) this.firstSeen.set(id, now);
    const online = snap.onlineTime ? Date.parse(snap.onlineTime) : Number.NaN;
    const startedAt = Number.isFinite(online) ? online : id ? this.firstSeen.get(id) : undefined;
    const max = this.opts.config().publish.maxDurationSeconds;
    const verdict = sessionVerdict(snap, { enabled: this.enabled(), maxDurationSeconds: max, startedAt, now });
    if (!verdict || !snap.source) return undefined;
    const { id: sid, type } = snap.source;
    const kind = KICK_PATHS[type];
    if (!kind) {
      this.opts.log.warn({ type, reason: verdict }, 'cannot end a publish session of this type');
      return undefined;
    }
    let kicked = false;
    try {
      kicked = await this.opts.kick(kind, sid);
    } catch (e) {
      this.opts.log.warn({ error: (e as Error).message, reason: verdict }, 'cannot end the publish session; retrying');
    }
    if (!kicked) return undefined;
    this.opts.log.info({ id: sid, type, reason: verdict }, 'publish session ended');
    if (verdict === 'max_duration' && max) {
      this.endings.push({
        seq: ++this.seq,
        id: sid,
        type,
        startedAt: iso(startedAt ?? now),
        endedAt: iso(now),
        limitSeconds: max,
      });
      if (this.endings.length > MAX_ENDINGS) this.endings.shift();
    }
    this.firstSeen.delete(sid);
    return verdict;
  }
}

/**
 * GET /control (state) and POST /control {"enabled": bool} on the sidecar's ops port, for the controller only: it
 * sends the stream's internal API token (the one it already uses for MediaMTX's API), compared in constant time.
 * `refresh` looks at the path and enforces at once, so a switch-off ends the session before the answer.
 */
export function registerControl(
  app: FastifyInstance,
  deps: { control: SessionControl; apiTokens: () => TokenSet | undefined; refresh: () => Promise<void> },
): void {
  const authorized = (header: string | undefined) => {
    const m = /^Bearer (.+)$/.exec(header ?? '');
    const set = deps.apiTokens();
    return Boolean(m && set?.matches([m[1]!]));
  };
  // Checked before the body is parsed or validated: without the token, nothing about the request is looked at.
  const onRequest = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!authorized(req.headers.authorization)) return reply.code(401).send();
  };
  app.get(CONTROL_PATH, { onRequest }, async () => deps.control.state());
  app.post<{ Body: { enabled: boolean } }>(
    CONTROL_PATH,
    {
      onRequest,
      schema: {
        body: {
          type: 'object',
          required: ['enabled'],
          additionalProperties: false,
          properties: { enabled: { type: 'boolean' } },
        },
      },
    },
    async (req) => {
      deps.control.setEnabled(req.body.enabled);
      await deps.refresh();
      return deps.control.state();
    },
  );
}
