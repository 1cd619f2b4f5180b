// End to end: a LiveStream on a real API server becomes a real MediaMTX with the real sidecar, ffmpeg publishes with
// the token from the Secret, and an HLS client plays with a viewer JWT. In the e2e project the local pod runner runs
// the pods and the test runs the controller; in the node project (the real-node tier, chart installed by the global
// setup) and against a real cluster (VSTREAM_USE_EXISTING_CLUSTER=true, e.g. kind with the chart installed by
// test/e2e/kind/run.sh) the installed controller and real pods do, reached by port-forwards through the API server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PodRunner } from '../../dev/pod-runner.ts';
import { REPO_ROOT } from '../../dev/tools.ts';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import { mediamtxRequest } from '../../src/auth/request.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp, waitPlayable } from '../support/media.ts';
import { ClusterHost, LocalHost, type StreamHost } from '../support/stream-host.ts';

const c = clients();
const kube = c.kube;
const ISSUER = 'https://id.e2e.test';
let ns: string;
let host: StreamHost;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
let signingKey: CryptoKey;
const publishers: Publisher[] = [];

/** Real pods and the chart's controller (node tier, or an existing cluster), not the local pod runner. */
const existing = ['existing', 'node'].includes(inject('clusterTier'));

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'e2e');
  const pair = await generateKeyPair('ES256', { extractable: true });
  signingKey = pair.privateKey;
  await c.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'viewer-keys' },
      stringData: {
        'jwks.json': JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'e2e', alg: 'ES256' }] }),
      },
    },
  });
  if (existing) {
    host = new ClusterHost(kube, inject('kubeconfig'));
    return;
  }
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(mkdtempSync(join(tmpdir(), 'vstream-e2e-log-')), 'runner.log'), sync: false }),
  );
  const runner = new PodRunner(kube, mkdtempSync(join(tmpdir(), 'vstream-pods-')), log);
  await runner.start();
  host = new LocalHost(runner);
  // Live state polled every 2 s instead of 10 s: the tests wait on it.
  ctl = await inProcessController({ ...(host.locator ? { probe: host.locator } : {}), liveResyncMs: 2000 });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await ctl?.shutdown();
  await host?.stop();
});

const viewerToken = (path: string, opts: { exp?: number; iss?: string } = {}) =>
  new SignJWT({ 'vstream.io/paths': [path] })
    .setProtectedHeader({ alg: 'ES256', kid: 'e2e' })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience('vstream')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600)
    .sign(signingKey);

async function publishToken(name: string): Promise<string> {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  return Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
}

async function podUp(name: string) {
  const e = await waitUntil(`pod ${name} started`, () => host.pod(ns, name), existing ? 180_000 : 60_000);
  await waitUntil(
    `${name} auth ready`,
    async () => (await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/readyz`)).status === 200,
    30_000,
  );
  await waitUntil(
    `${name} MediaMTX listening`,
    async () => (await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`)).status === 200,
    30_000,
  );
  return e;
}

/** The ingest URL from status, pointed at the local port (the in-cluster Service name does not resolve here). */
function localIngest(ls: LiveStream, port: number, token: string) {
  const server = ls.status!.ingest!.rtmp!.server!.replace(/^rtmp:\/\/[^/]+/, `rtmp://127.0.0.1:${port}`);
  return `${server}/${ls.status!.ingest!.rtmp!.streamKey}?token=${token}`;
}

describe('a JWT-protected, recorded stream', () => {
  let ls: LiveStream;
  let e: Awaited<ReturnType<typeof podUp>>;
  let pub: Publisher;
  const path = 'live/show';

  it('comes up Ready from a LiveStream', async () => {
    await createStream(kube, ns, 'show', {
      playback: {
        protocols: ['hls'],
        access: 'jwt',
        jwt: { issuer: ISSUER, keysSecretRef: { name: 'viewer-keys' } },
        allowedOrigins: ['https://a.example'],
      },
      recording: { enabled: true, segmentDuration: '2s', retention: '0s' },
    });
    ls = await waitPhase(kube, ns, 'show', 'Ready');
    e = await podUp('show');
  });

  it('takes ffmpeg’s RTMP publish with the token from the Secret, and serves HLS to a valid viewer JWT', async () => {
    pub = publishRtmp(localIngest(ls, e.ports.rtmp!, await publishToken('show')));
    publishers.push(pub);
    const play = await waitPlayable(
      `http://127.0.0.1:${e.ports.hls}`,
      path,
      { authorization: `Bearer ${await viewerToken(path)}` },
      pub.startedAt,
    );
    console.log(`[e2e] ffmpeg start -> first playable HLS playlist (with the auth sidecar): ${play.ms}ms`);
    expect(play.media).toContain('#EXTINF');
    // ?jwt= for players that cannot set headers
    expect(
      (await httpGet(`http://127.0.0.1:${e.ports.hls}/${path}/index.m3u8?jwt=${await viewerToken(path)}`)).status,
    ).toBe(200);
  });

  it('denies viewers without a JWT, with an expired one, or with one for another stream', async () => {
    const url = `http://127.0.0.1:${e.ports.hls}/${path}/index.m3u8`;
    expect((await httpGet(url)).status).toBe(401);
    const expired = await viewerToken(path, { exp: Math.floor(Date.now() / 1000) - 3600 });
    expect((await httpGet(url, { authorization: `Bearer ${expired}` })).status).toBe(401);
    const other = await viewerToken('live/other');
    expect((await httpGet(url, { authorization: `Bearer ${other}` })).status).toBe(401);
    const wrongIssuer = await viewerToken(path, { iss: 'https://evil.example' });
    expect((await httpGet(url, { authorization: `Bearer ${wrongIssuer}` })).status).toBe(401);
  });

  it('accepts a viewer token from `vstream token viewer` and rotates the publish token without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vstream-cli-'));
    writeFileSync(
      join(dir, 'viewer.jwk.json'),
      JSON.stringify({ ...(await exportJWK(signingKey)), kid: 'e2e', alg: 'ES256' }),
    );
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, [join(REPO_ROOT, 'src/cli.ts'), ...args, '--kubeconfig', inject('kubeconfig')], {
        encoding: 'utf8',
      }).trim();
    const token = cli(
      'token',
      'viewer',
      '--stream',
      `${ns}/show`,
      '--key',
      join(dir, 'viewer.jwk.json'),
      '--ttl',
      '10m',
    );
    expect(
      (await httpGet(`http://127.0.0.1:${e.ports.hls}/${path}/index.m3u8`, { authorization: `Bearer ${token}` }))
        .status,
    ).toBe(200);

    // Rotation, asked of the sidecar directly (the publisher already on air stays on air either way).
    const hook = (t: string) =>
      fetch(`http://127.0.0.1:${e.ports['auth-hook']}/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          mediamtxRequest({ action: 'publish', protocol: 'rtmp', path, token: t, query: `token=${t}` }),
        ),
      }).then((r) => r.status);
    const before = await publishToken('show');
    expect(cli('token', 'publish', '--stream', `${ns}/show`)).toBe(before);
    const fresh = cli('token', 'publish', '--stream', `${ns}/show`, '--rotate');
    expect(fresh).not.toBe(before);
    // Known once loaded (401 before). While the stream is live on the previous token, the new one is refused as
    // path_busy (403): only the token on air may take over a live stream (a reconnect).
    await waitUntil('sidecar picked up the rotated token', async () => (await hook(fresh)) !== 401, 120_000, 500);
    expect(await hook(fresh)).toBe(403);
    expect(await hook(before)).toBe(200);
    expect(await hook('never-issued-token-0123456789')).toBe(401);
  });

  it('refuses a wrong publish token and a second publisher', async () => {
    const wrong = publishRtmp(localIngest(ls, e.ports.rtmp!, 'wrong-token-0123456789abc'), 10);
    expect(await wrong.exited).not.toBe(0);
    // The rotated token, not the one on air (which would be a reconnect, and take over).
    const second = publishRtmp(localIngest(ls, e.ports.rtmp!, await publishToken('show')), 10);
    expect(await second.exited).not.toBe(0);
    expect(pub.proc.exitCode).toBeNull();
  });

  it('reports live and the reader count in status, from MediaMTX’s control API', async () => {
    const live = await waitUntil(
      'status live',
      async () => {
        const s = await kube.get<LiveStream>(streamPath(ns, 'show'));
        return s.status?.live && s;
      },
      60_000,
    );
    expect(live.status?.phase).toBe('Live');
    expect(live.status?.viewers).toBeGreaterThanOrEqual(1); // the HLS muxer reads the stream
  });

  it('exposes per-stream metrics labelled with the path', async () => {
    const m = await httpGet(`http://127.0.0.1:${e.ports.metrics}/metrics`);
    expect(m.status).toBe(200);
    expect(m.body).toMatch(new RegExp(`paths\\{name="${path}",state="ready"\\} 1`));
    expect(m.body).toMatch(new RegExp(`rtmp_conns\\{[^}]*path="${path}"`));
    const auth = await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/metrics`);
    expect(auth.body).toMatch(
      /vstream_auth_decisions_total\{action="publish",protocol="rtmp",result="allow",reason="publish_token"\}/,
    );
  });

  it('writes fMP4 recording segments to the recordings volume', async () => {
    const files = await waitUntil('recordings', async () => (await host.recordings(ns, 'show', path))?.length, 60_000);
    expect(files).toBeGreaterThan(0);
  });

  const configApplied = async () =>
    (await kube.get<LiveStream>(streamPath(ns, 'show'))).status?.conditions?.find(
      (x) => x.type === ConditionType.ConfigApplied,
    );
  const renderedConfig = async () =>
    (await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'ConfigMap', ns, 'show-mediamtx'))).data[
      'mediamtx.yml'
    ]!;

  it('applies a recording change in place while a publisher and a viewer are connected, dropping neither', async () => {
    const pod = e.identity;
    const viewer = { authorization: `Bearer ${await viewerToken(path)}` };
    const playlist = `http://127.0.0.1:${e.ports.hls}/${path}/index.m3u8`;
    expect((await httpGet(playlist, viewer)).status).toBe(200);
    await kube.mergePatch(streamPath(ns, 'show'), { spec: { recording: { segmentDuration: '3s' } } });
    // kubelet propagates ConfigMap changes within its sync period (~1 min); the local runner within a second.
    await waitUntil(
      'MediaMTX reloaded its config',
      async () => (await host.mediamtxLog(ns, 'show')).includes('reloading configuration'),
      150_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect((await host.pod(ns, 'show'))?.identity).toBe(pod);
    expect(pub.proc.exitCode).toBeNull();
    expect((await httpGet(playlist, viewer)).status).toBe(200);
    expect((await configApplied())?.status).toBe('True');
  });

  it('holds a server-restarting and a pod-restarting change while sessions are connected, and says whom they would drop', async () => {
    const pod = e.identity;
    await kube.mergePatch(streamPath(ns, 'show'), {
      spec: { mediamtx: { logLevel: 'debug' }, ingest: { protocols: ['rtmp', 'srt'] } },
    });
    const held = await waitUntil('change held', async () => {
      const cond = await configApplied();
      return cond?.reason === Reason.WaitingForIdle && cond;
    });
    expect(held.message).toContain('logLevel');
    expect(held.message).toContain('a new pod');
    expect(held.message).toContain('the publisher');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await renderedConfig()).not.toContain('logLevel: debug');
    expect((await host.pod(ns, 'show'))?.identity).toBe(pod);
    expect(pub.proc.exitCode).toBeNull();
  });

  it('applies what was held once the publisher leaves', async () => {
    const pod = e.identity;
    await pub.stop();
    await waitUntil(
      'pod rolled with the held config',
      async () => {
        const now = await host.pod(ns, 'show');
        return now && now.identity !== pod && (await renderedConfig()).includes('logLevel: debug');
      },
      existing ? 180_000 : 90_000,
    );
    await waitUntil('ConfigApplied', async () => (await configApplied())?.status === 'True', 60_000);
  });

  it('with disruptiveUpdates Immediate, restarts MediaMTX’s servers at once and announces whom it dropped', async () => {
    await waitPhase(kube, ns, 'show', 'Ready', 90_000);
    e = await podUp('show');
    const again = publishRtmp(localIngest(ls, e.ports.rtmp!, await publishToken('show')));
    publishers.push(again);
    await waitUntil(
      'status live again',
      async () => (await kube.get<LiveStream>(streamPath(ns, 'show'))).status?.live === true,
      60_000,
    );
    await kube.mergePatch(streamPath(ns, 'show'), {
      spec: { disruptiveUpdates: 'Immediate', mediamtx: { logLevel: 'info' } },
    });
    // MediaMTX's reload restarts every server for a logLevel change: the publisher is cut off, as announced.
    const code = await Promise.race([again.exited, new Promise((r) => setTimeout(() => r('still running'), 150_000))]);
    expect(code).not.toBe('still running');
    const dropped = await waitUntil('SessionsDropped event', async () => {
      const list = await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      return list.items.find((x) => x.reason === 'SessionsDropped');
    });
    expect(String(dropped.note)).toContain('the publisher');
  });

  it('goes back to not-live when the publisher stops', async () => {
    await waitUntil(
      'status not live',
      async () => {
        const s = await kube.get<LiveStream>(streamPath(ns, 'show'));
        return s.status?.live === false && s.status.phase === 'Ready';
      },
      60_000,
    );
  });

  it('stops the pod when the LiveStream is deleted, and keeps the recordings (Retain)', async () => {
    await kube.delete(streamPath(ns, 'show'));
    await waitUntil('pod stopped', async () => !(await host.pod(ns, 'show')), 120_000);
    // Locally the volume's directory is visible after the pod is gone; in a cluster the PVC check below is it.
    const kept = await host.recordings(ns, 'show', path);
    if (host.kind === 'local') expect(kept?.length).toBeGreaterThan(0);
    await waitUntil(
      'Deployment gone',
      async () => (await kube.list(`/apis/apps/v1/namespaces/${ns}/deployments`)).items.length === 0,
    );
    const pvcs = await kube.list(`/api/v1/namespaces/${ns}/persistentvolumeclaims`);
    expect(pvcs.items.map((p) => p.metadata.name)).toContain('show-recordings');
  });
});
