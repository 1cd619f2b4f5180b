// `vstream auth`: the sidecar process.
import type { Logger } from 'pino';
import { splitHostPort } from '../cli-flags.ts';
import { createLogger } from '../log/logger.ts';
import { AUTH_HOOK_PORT, AUTH_METRICS_PORT, MEDIAMTX_API_PORT, THUMBNAIL_PORT } from '../render/ports.ts';
import { thumbnailServer } from './media.ts';
import { kickSession, PublisherGuard } from './publisher.ts';
import { authMetrics, hookServer, opsServer, recordReload } from './server.ts';
import { registerControl, SessionControl } from './session-control.ts';
import { AuthStateStore } from './state.ts';
import { workerChannel } from './supervisor.ts';

export interface AuthOptions {
  config: string;
  listen?: string;
  opsListen?: string;
  /** MediaMTX's control API, for who holds the stream (default http://127.0.0.1:9997, the same pod). */
  mediamtxApi?: string;
  /** The thumbnail server (spec.thumbnails; default 0.0.0.0:8880). */
  thumbnailListen?: string;
  /** Run as the supervisor's worker (./supervisor.ts): hook connections arrive from it instead of a listener. */
  worker?: boolean;
  log?: Logger;
}

export async function runAuth(opts: AuthOptions) {
  // No redaction pass on the sidecar's hot path: its decision log is built from an allowlist of fields (never the
  // token, password or query), which the log-scanning tests check; redaction would cost more than the decision.
  const log = opts.log ?? createLogger('auth', undefined, undefined, { redact: false });
  const metrics = authMetrics();
  const store = new AuthStateStore(opts.config, log, recordReload(metrics));
  await store.init();
  store.watch();
  const api = opts.mediamtxApi ?? `http://127.0.0.1:${MEDIAMTX_API_PORT}`;
  const control = new SessionControl({
    config: () => store.state.config,
    kick: (kind, id) => kickSession(api, store.state.config.api.tokenFile, kind, id),
    log,
  });
  const publisher = new PublisherGuard({
    api,
    target: () => {
      const c = store.state.config;
      return c.publish.override === 'sameToken' || control.active()
        ? { path: c.path, apiTokenFile: c.api.tokenFile }
        : undefined;
    },
    onPoll: (snap) => control.enforce(snap),
    isPublishToken: (t) => store.state.publishTokens?.matches([t]) ?? false,
    log,
  });
  // Every state the store swaps in keeps the one guard and control (they outlive config and key reloads).
  store.state.publisher = publisher;
  store.state.control = control;
  publisher.start();
  const hook = hookServer(store, metrics, log);
  const ops = opsServer(store, metrics);
  registerControl(ops, { control, apiTokens: () => store.state.apiTokens, refresh: () => publisher.poll() });
  // Retention and the disk-full pause (src/recording/), loaded only by streams that record: the rest pay nothing.
  const recording = store.state.config.recording
    ? (await import('../recording/sidecar.ts')).attachRecording({
        config: () => store.state.config,
        api: opts.mediamtxApi ?? `http://127.0.0.1:${MEDIAMTX_API_PORT}`,
        registry: metrics.registry,
        log,
        ops,
      })
    : undefined;
  // Restreaming (src/restream/): MediaMTX's own forwarder, given its destinations and keys over the API on loopback.
  const restream = store.state.config.restream?.length
    ? (await import('../restream/sidecar.ts')).attachRestream({
        config: () => store.state.config,
        api: opts.mediamtxApi ?? `http://127.0.0.1:${MEDIAMTX_API_PORT}`,
        log,
        ops,
      })
    : undefined;
  const thumbs = store.state.config.media?.thumbnails ? thumbnailServer(store, log) : undefined;
  if (restream)
    store.readyWhen.push(() =>
      restream.sync.handedOver ? undefined : 'restream destinations not yet handed to MediaMTX',
    );
  // The hook listens on loopback only: it is MediaMTX's, inside the pod, and nobody else's. Under the supervisor,
  // the supervisor listens and hands each connection over.
  let channel: ReturnType<typeof workerChannel> | undefined;
  let hookAddr: string;
  if (opts.worker) {
    await hook.ready();
    channel = workerChannel((socket) => hook.server.emit('connection', socket));
    hookAddr = 'from the supervisor';
  } else hookAddr = await hook.listen(splitHostPort(opts.listen ?? `127.0.0.1:${AUTH_HOOK_PORT}`));
  const opsAddr = await ops.listen(splitHostPort(opts.opsListen ?? `0.0.0.0:${AUTH_METRICS_PORT}`));
  const thumbAddr = await thumbs?.listen(splitHostPort(opts.thumbnailListen ?? `0.0.0.0:${THUMBNAIL_PORT.port}`));
  log.info(
    {
      hook: hookAddr,
      ops: opsAddr,
      ...(thumbAddr ? { thumbnails: thumbAddr } : {}),
      path: store.state.config.path,
      access: store.state.config.read.access,
      ready: store.ready,
    },
    'auth sidecar listening',
  );
  channel?.ready();
  const close = async () => {
    publisher.stop();
    recording?.stop();
    restream?.stop();
    store.close();
    await Promise.all([hook.close(), ops.close(), thumbs?.close()]);
  };
  return { hook, ops, store, metrics, close, hookAddr, opsAddr, recording, restream, control };
}
