// observed children + probe -> LiveStream status. Pure, so every phase and condition is tested without a cluster.
import { Reason as R, ConditionType as T } from '../api/conditions.ts';
import type { Condition, LiveStream, LiveStreamStatus, Phase, ResolvedSpec, RestreamState } from '../api/livestream.ts';
import type { KubeObject } from '../kube/rest.ts';
import { type ObservedService, type Reach, reach } from '../render/endpoints.ts';
import { names } from '../render/names.ts';

/** RecordingHealthy=False and the Warning event: what happened and what to do. */
export const RECORDING_PAUSED_MESSAGE =
  'The recordings volume is nearly full and nothing may be deleted under spec.recording.retention and maxSize: recording is paused (live ingest and playback go on). It resumes by itself when space returns: set spec.recording.maxSize, shorten retention, grow spec.recording.storage.size or delete recordings.';

/** Ready=False (Disabled): what it means and how to undo it. */
export const DISABLED_MESSAGE =
  'spec.enabled is false: publishers are refused and the current one was disconnected. The pod, Service, Secrets and recordings are kept, and viewers may stay connected. Set spec.enabled to true to accept publishing again.';

/** What status.recording carries besides its claim name and URL. */
export interface RecordingFigures {
  paused: boolean;
  usedBytes: number;
  freeBytes: number;
  oldest?: string;
  newest?: string;
}

export interface Problem {
  reason: string;
  message: string;
}

export interface Observed {
  spec: ResolvedSpec;
  publishSecret: { name: string; key: string };
  renderProblem?: Problem;
  secretProblem?: Problem;
  /** A child's name is taken by an object this LiveStream does not control: nothing was touched. */
  conflictProblem?: Problem;
  applyProblem?: Problem;
  /** A configuration change that would drop connected sessions, held back until nobody is connected. */
  configPending?: Problem;
  /** When the generated publish Secret was recreated with a new token (it had been deleted). */
  tokenRegeneratedAt?: string;
  deployment?: KubeObject;
  service?: KubeObject;
  /** The controller's --node-address: where NodePort streams are reached. */
  nodeAddress?: string;
  /** spec.tls: whether the certificate covers a host (X509Certificate.checkHost/checkIP), when it parsed. */
  certificateCovers?: (host: string) => boolean;
  /** spec.tls: when the certificate expires (it was valid when checked). */
  certificateValidTo?: string;
  /** From MediaMTX's control API; undefined when it could not be asked. */
  probe?: { online: boolean; readers: number; reconnectingSince?: string };
  /** From the sidecar's GET /recording (published rarely: ./recording-status.ts); undefined until first asked. */
  recording?: RecordingFigures;
  /** A spec.webhooks signing Secret (or its key) is missing: WebhooksReady=False, the stream runs on. */
  webhookProblem?: Problem;
  /** status.webhooks as the webhook hub has it (src/webhooks/hub.ts). */
  webhooks?: NonNullable<LiveStreamStatus['webhooks']>;
  /** From the sidecar's GET /restream (./restream-status.ts); undefined until first asked. */
  restream?: { name: string; state: RestreamState; reason?: string; since: string }[];
}

/** Where the stream is reached from, for a status: the same answer the renderer used for WebRTC's candidates. */
export function streamReach(ls: LiveStream, o: Pick<Observed, 'spec' | 'service' | 'nodeAddress'>): Reach {
  return reach(ls.metadata, o.spec, o.service as ObservedService | undefined, o.nodeAddress);
}

/**
 * URLs as clients use them: the reachable host with the port each client dials (node ports on a NodePort Service),
 * TLS schemes with spec.tls. While the host is not known, no URL that would carry it: the stream key and the
 * Secret that holds the token are all that is certain.
 */
function endpoints(o: Observed, where: Reach): Pick<LiveStreamStatus, 'ingest' | 'playback' | 'endpoints'> {
  const host = where.urlHost;
  const path = o.spec.path;
  const slash = path.lastIndexOf('/');
  const [app, key] = slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
  const ing = new Set(o.spec.ingest.protocols);
  const play = new Set(o.spec.playback.protocols);
  const tls = Boolean(o.spec.tls);
  const tokenRef = { name: o.publishSecret.name, key: o.publishSecret.key };
  if (!host)
    return {
      endpoints: { scope: where.scope },
      ingest: { ...(ing.has('rtmp') ? { rtmp: { streamKey: key } } : {}), publishTokenSecretRef: tokenRef },
      playback: {},
    };
  const at = (port: string) => `${host}:${where.ports[port]}`;
  const http = tls ? 'https' : 'http';
  const rtmp = tls ? `rtmps://${at('rtmps')}/${app}` : `rtmp://${at('rtmp')}/${app}`;
  const rtsp = tls ? `rtsps://${at('rtsps')}/${path}` : `rtsp://${at('rtsp')}/${path}`;
  const srt = (mode: string) => `srt://${at('srt')}?streamid=${mode}:${path}`;
  const whip = `${http}://${at('webrtc')}/${path}/whip`;
  const primary = ing.has('rtmp') ? rtmp : ing.has('srt') ? srt('publish') : ing.has('webrtc') ? whip : rtsp;
  return {
    endpoints: { host, scope: where.scope },
    ingest: {
      url: primary,
      ...(ing.has('rtmp') ? { rtmp: { server: rtmp, streamKey: key } } : {}),
      ...(ing.has('srt') ? { srt: srt('publish') } : {}),
      ...(ing.has('rtsp') ? { rtsp } : {}),
      ...(ing.has('webrtc') ? { webrtc: whip } : {}),
      publishTokenSecretRef: tokenRef,
    },
    playback: {
      ...(play.has('hls') ? { hls: `${http}://${at('hls')}/${path}/index.m3u8` } : {}),
      ...(play.has('webrtc') ? { webrtc: `${http}://${at('webrtc')}/${path}/` } : {}),
      ...(play.has('rtsp') ? { rtsp } : {}),
      ...(play.has('srt') ? { srt: srt('read') } : {}),
      // Served by the auth sidecar over plain HTTP (also with spec.tls: it has no certificate mounted).
      ...(o.spec.thumbnails?.enabled ? { thumbnail: `http://${at('thumbnail')}/${path}/thumbnail.jpg` } : {}),
    },
  };
}

/** EndpointsReady: from where the URLs are reached, or what they wait for; and whether TLS clients accept the host. */
function endpointsCondition(o: Observed, where: Reach): Cond {
  const type = T.EndpointsReady;
  if (where.scope === 'Pending') return { type, status: 'False', reason: where.reason, message: where.message };
  const bare = where.urlHost?.replace(/^\[(.*)\]$/, '$1');
  if (o.spec.tls && where.scope === 'External' && bare && o.certificateCovers && !o.certificateCovers(bare))
    return {
      type,
      status: 'False',
      reason: R.CertificateHostMismatch,
      message: `The certificate in Secret ${o.spec.tls.secretRef.name} does not cover ${bare}, the host every URL uses: TLS clients will refuse it. Issue it for ${bare} (cert-manager Certificate spec.dnsNames), or set spec.service.externalHost to a name it covers.`,
    };
  return { type, status: 'True', reason: where.reason, message: where.message };
}

export const deploymentAvailable = (d?: KubeObject) =>
  (d?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === 'Available' && c.status === 'True',
  ) ?? false;
const deploymentStuck = (d?: KubeObject) =>
  (d?.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === 'Progressing' && c.status === 'False',
  ) ?? false;

type Cond = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function desiredStatus(
  ls: LiveStream,
  o: Observed,
): Omit<LiveStreamStatus, 'conditions'> & { conditions: Cond[] } {
  const available = deploymentAvailable(o.deployment);
  // A name conflict stops a stream that is not running yet; one that runs keeps running, Degraded.
  const failed = o.renderProblem ?? o.secretProblem ?? (available ? undefined : o.conflictProblem);
  const notReconciled = o.renderProblem ?? o.conflictProblem ?? o.applyProblem;
  const live = available && o.probe?.online === true;
  // spec.enabled false: running, refusing publishers. (An invalid spec has no resolved spec: optional chaining.)
  const disabled = o.spec?.enabled === false;
  // Without a render (an invalid spec) nothing is known about where the stream is reached.
  const where = o.renderProblem ? undefined : streamReach(ls, o);
  let phase: Phase;
  if (failed) phase = 'Failed';
  else if (o.applyProblem ?? o.conflictProblem) phase = 'Degraded';
  else if (disabled) phase = 'Disabled';
  else if (live) phase = 'Live';
  else if (available) phase = 'Ready';
  else if (deploymentStuck(o.deployment)) phase = 'Degraded';
  else phase = 'Pending';

  const conditions: Cond[] = [
    o.secretProblem
      ? { type: T.SecretsResolved, status: 'False', ...o.secretProblem }
      : {
          type: T.SecretsResolved,
          status: 'True',
          reason: R.Resolved,
          message: `Every referenced Secret and key exists and parses.${o.spec.tls && o.certificateValidTo ? ` The TLS certificate in Secret ${o.spec.tls.secretRef.name} is valid until ${o.certificateValidTo}.` : ''}`,
        },
    notReconciled
      ? { type: T.Reconciled, status: 'False', ...notReconciled }
      : { type: T.Reconciled, status: 'True', reason: R.Applied, message: 'All child objects match the spec.' },
    disabled && !failed
      ? {
          type: T.Ready,
          status: 'False',
          reason: R.Disabled,
          message: DISABLED_MESSAGE,
        }
      : available
        ? {
            type: T.Ready,
            status: 'True',
            reason: R.Available,
            message: 'MediaMTX is running and accepting a publisher.',
          }
        : {
            type: T.Ready,
            status: 'False',
            reason: failed ? R.NotReconciled : deploymentStuck(o.deployment) ? R.ProgressDeadlineExceeded : R.Starting,
            message: failed ? failed.message : 'Waiting for the MediaMTX Deployment to become available.',
          },
    !available
      ? {
          type: T.Live,
          status: 'Unknown',
          reason: R.NotRunning,
          message: 'MediaMTX is not running yet.',
        }
      : o.probe === undefined
        ? {
            type: T.Live,
            status: 'Unknown',
            reason: R.ProbeFailed,
            message: 'The MediaMTX control API was not reachable.',
          }
        : live && o.probe.reconnectingSince
          ? {
              type: T.Live,
              status: 'True',
              reason: R.PublisherReconnecting,
              message: `The publisher dropped at ${o.probe.reconnectingSince}; the stream counts as live for a few seconds while it reconnects.`,
            }
          : live
            ? { type: T.Live, status: 'True', reason: R.PublisherOnline, message: 'A publisher is streaming.' }
            : { type: T.Live, status: 'False', reason: R.NoPublisher, message: 'No publisher is streaming.' },
    o.configPending
      ? { type: T.ConfigApplied, status: 'False', ...o.configPending }
      : {
          type: T.ConfigApplied,
          status: 'True',
          reason: R.InPlace,
          message: 'MediaMTX runs the configuration of the current spec.',
        },
    tokenCondition(o),
    ...(where ? [endpointsCondition(o, where)] : []),
    ...(o.spec.recording?.enabled && o.recording ? [recordingCondition(o.recording)] : []),
    ...(o.spec.webhooks?.length ? [webhooksCondition(o)] : []),
  ];
  return {
    observedGeneration: ls.metadata.generation ?? 0,
    phase,
    conditions,
    path: o.spec.path,
    live,
    viewers: live ? (o.probe?.readers ?? 0) : 0,
    ...(where ? endpoints(o, where) : {}),
    ...(o.spec.recording?.enabled
      ? {
          recording: {
            claimName: names(ls.metadata.name).recordings,
            ...(where?.urlHost
              ? { playbackURL: `${o.spec.tls ? 'https' : 'http'}://${where.urlHost}:${where.ports.playback}` }
              : {}),
            ...(o.recording ?? {}),
          },
        }
      : {}),
    ...(o.webhooks?.length ? { webhooks: o.webhooks } : {}),
    ...(o.spec.restream?.length && o.restream
      ? { restream: o.restream.filter((t) => o.spec.restream?.some((s) => s.name === t.name)) }
      : {}),
  };
}

function webhooksCondition(o: Observed): Cond {
  return o.webhookProblem
    ? { type: T.WebhooksReady, status: 'False', ...o.webhookProblem }
    : {
        type: T.WebhooksReady,
        status: 'True',
        reason: R.SigningSecretsResolved,
        message: 'Every webhook has its signing Secret; delivery results are in status.webhooks.',
      };
}

function recordingCondition(r: RecordingFigures): Cond {
  return r.paused
    ? { type: T.RecordingHealthy, status: 'False', reason: R.VolumeFull, message: RECORDING_PAUSED_MESSAGE }
    : {
        type: T.RecordingHealthy,
        status: 'True',
        reason: R.Recording,
        message: 'Recordings are written; retention keeps the volume from filling.',
      };
}

function tokenCondition(o: Observed): Cond {
  const name = o.publishSecret.name;
  if (o.tokenRegeneratedAt)
    return {
      type: T.PublishTokenStable,
      status: 'False',
      reason: R.Regenerated,
      message: `Secret ${name} was deleted and recreated with a new publish token at ${o.tokenRegeneratedAt}: streamers need the new stream key. Remove the annotation vstream.io/regenerated-at from the Secret to acknowledge.`,
    };
  // (An invalid spec has no resolved spec: optional chaining keeps its status writable.)
  return o.spec.ingest?.publishTokenSecretRef
    ? {
        type: T.PublishTokenStable,
        status: 'True',
        reason: R.UserProvided,
        message: `Tokens come from Secret ${name}.`,
      }
    : {
        type: T.PublishTokenStable,
        status: 'True',
        reason: R.Unchanged,
        message: `Secret ${name} holds the token generated when the stream was created.`,
      };
}

/** Adds lastTransitionTime (kept from the current status when a condition's status did not change). */
export function withTransitions(
  desired: ReturnType<typeof desiredStatus>,
  current: LiveStreamStatus | undefined,
  now: string,
): LiveStreamStatus {
  const prev = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  return {
    ...desired,
    conditions: desired.conditions.map((c) => {
      const p = prev.get(c.type);
      return {
        ...c,
        observedGeneration: desired.observedGeneration,
        lastTransitionTime: p && p.status === c.status ? p.lastTransitionTime : now,
      };
    }),
  };
}

/** True when the current status already says everything the desired one does (so no write is needed). */
export function statusUpToDate(
  desired: ReturnType<typeof desiredStatus>,
  current: LiveStreamStatus | undefined,
): boolean {
  if (!current) return false;
  const strip = (s: Partial<LiveStreamStatus>) => ({
    ...s,
    conditions: (s.conditions ?? []).map(({ lastTransitionTime: _t, observedGeneration: _g, ...rest }) => rest),
  });
  const c = strip(current);
  const d = strip(desired as LiveStreamStatus);
  return (
    canonical(d) === canonical(c) &&
    (current.conditions ?? []).every((x) => x.observedGeneration === desired.observedGeneration)
  );
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => byCodeUnits(a, b)))
      : val,
  );
}

// Not localeCompare: an order that must not depend on the locale, and the first localeCompare maps ≈ 2 MiB of
// ICU collation data into the controller's RSS.
export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
