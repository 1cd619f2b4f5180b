// The production edge end to end, with real MediaMTX, the real sidecar and real ffmpeg on the local pod runner:
// RTMPS ingest and HTTPS playback from a kubernetes.io/tls Secret, a certificate rotation under a live publisher,
// a bad certificate stopping at a condition, a load balancer address arriving (the test plays the cloud's load
// balancer controller) and WebRTC advertising it, and a WHEP client receiving media through it.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import pino from 'pino';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../../dev/cluster.ts';
import { PodRunner } from '../../dev/pod-runner.ts';
import { toolPath } from '../../dev/tools.ts';
import { ConditionType, Reason } from '../../src/api/conditions.ts';
import type { LiveStream } from '../../src/api/livestream.ts';
import type { runController } from '../../src/controller/main.ts';
import { resourcePath } from '../../src/kube/rest.ts';
import { selfSigned, type TestCert, tlsSecret } from '../support/certs.ts';
import { createStream, inProcessController, streamPath, waitPhase } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, freshNamespace, waitUntil } from '../support/kube.ts';
import { httpGet, type Publisher, publishRtmp, waitPlayable } from '../support/media.ts';
import { LocalHost, type StreamHost } from '../support/stream-host.ts';

const c = clients();
const kube = c.kube;
/** Real pods (an existing cluster, or the real-node tier): this suite needs the local pod runner instead. */
const existing = ['existing', 'node'].includes(inject('clusterTier'));
let ns: string;
let host: StreamHost;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const publishers: Publisher[] = [];
const procs: { kill(sig?: NodeJS.Signals): boolean }[] = [];

beforeAll(async () => {
  await installCrd(kube);
  ns = await freshNamespace(c.core, 'edge');
  // The local pod runner only: this suite reaches listeners (RTMPS, WebRTC ICE over UDP) a port-forward cannot carry.
  if (existing) return;
  const log = pino(
    { level: 'info' },
    pino.destination({ dest: join(mkdtempSync(join(tmpdir(), 'vstream-edge-log-')), 'runner.log'), sync: false }),
  );
  const runner = new PodRunner(kube, mkdtempSync(join(tmpdir(), 'vstream-edge-pods-')), log);
  await runner.start();
  host = new LocalHost(runner);
  ctl = await inProcessController({ ...(host.locator ? { probe: host.locator } : {}), liveResyncMs: 1000 });
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  for (const p of procs) p.kill('SIGKILL');
  // Leave nothing for the next suite's pod runner to start.
  if (ns) for (const ls of (await kube.list(streamPath(ns))).items) await kube.delete(streamPath(ns, ls.metadata.name));
  await ctl?.shutdown();
  await host?.stop();
});

const d = existing ? describe.skip : describe;

async function publishToken(name: string): Promise<string> {
  const s = await kube.get<{ data: { token: string } }>(resourcePath('v1', 'Secret', ns, `${name}-publish`));
  return Buffer.from(s.data.token, 'base64').toString('utf8').split('\n')[0]!;
}

const getStream = (name: string) => kube.get<LiveStream>(streamPath(ns, name));
const condition = async (name: string, type: string) =>
  (await getStream(name)).status?.conditions?.find((x) => x.type === type);

async function podUp(name: string) {
  const e = await waitUntil(`pod ${name} started`, () => host.pod(ns, name), 60_000);
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

/** A status URL pointed at the pod runner's port for it (the advertised host is not this machine's). */
const local = (url: string, port: number) => url.replace(/^(\w+):\/\/[^/?]+/, `$1://127.0.0.1:${port}`);

/** The SHA-256 fingerprint of the certificate a TLS listener presents (lowercase hex). */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256.replaceAll(':', '').toLowerCase();
      s.end();
      resolve(fp);
    });
    s.once('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
  });
}

const putTls = async (name: string, cert: Pick<TestCert, 'cert' | 'key'>) => {
  const path = resourcePath('v1', 'Secret', ns, name);
  const body = tlsSecret(name, ns, cert);
  if (await kube.getOrUndefined(path))
    await kube.mergePatch(path, {
      data: {
        'tls.crt': Buffer.from(cert.cert).toString('base64'),
        'tls.key': Buffer.from(cert.key).toString('base64'),
      },
    });
  else await kube.create(body as never);
};

d('TLS from a kubernetes.io/tls Secret', () => {
  let first: TestCert;
  let e: Awaited<ReturnType<typeof podUp>>;
  let ls: LiveStream;
  let pub: Publisher;
  const path = 'live/secure';
  const trust = (cert: string) => new Agent({ connect: { ca: cert, servername: 'localhost' } });

  it('comes up with RTMPS and HTTPS only, and TLS URLs in status', async () => {
    first = selfSigned({ dns: ['localhost'], ips: ['127.0.0.1'] });
    await putTls('secure-tls', first);
    await createStream(kube, ns, 'secure', {
      ingest: { protocols: ['rtmp'] },
      playback: { protocols: ['hls'] },
      service: { externalHost: 'localhost' },
      tls: { secretRef: { name: 'secure-tls' } },
    });
    ls = await waitPhase(kube, ns, 'secure', 'Ready');
    e = await podUp('secure');
    expect(ls.status?.ingest?.rtmp?.server).toBe('rtmps://localhost:1936/live');
    expect(ls.status?.playback?.hls).toBe('https://localhost:8888/live/secure/index.m3u8');
    expect(ls.status?.conditions?.find((x) => x.type === ConditionType.EndpointsReady)).toMatchObject({
      status: 'True',
      reason: Reason.ExternalHost,
    });
    // The plain RTMP listener is off; the certificate is nowhere but the pod's volume.
    expect(e.ports.rtmp).toBeUndefined();
    const cm = await kube.get(resourcePath('v1', 'ConfigMap', ns, 'secure-mediamtx'));
    expect(JSON.stringify(cm)).not.toMatch(/BEGIN|secure-tls/);
    expect(await servedFingerprint(e.ports.rtmps!)).toBe(first.fingerprint);
    expect(await servedFingerprint(e.ports.hls!)).toBe(first.fingerprint);
  });

  it('takes ffmpeg’s RTMPS publish and serves HLS over HTTPS that verifies against the certificate', async () => {
    const server = local(ls.status!.ingest!.rtmp!.server!, e.ports.rtmps!);
    pub = publishRtmp(`${server}/secure?token=${await publishToken('secure')}`, 600);
    publishers.push(pub);
    const hls = local(ls.status!.playback!.hls!, e.ports.hls!).replace(`/${path}/index.m3u8`, '');
    const play = await waitPlayable(hls, path, {}, pub.startedAt, 60_000, trust(first.cert));
    console.log(`[e2e] RTMPS publish -> first playable HTTPS HLS playlist: ${play.ms}ms`);
    expect(play.media).toContain('#EXTINF');
    // Plain HTTP on the HLS port gets nothing: it speaks TLS only.
    const plain = await httpGet(`http://127.0.0.1:${e.ports.hls}/${path}/index.m3u8`).catch(() => undefined);
    expect(plain?.status ?? 0).not.toBe(200);
  });

  it('picks up a renewed certificate without a restart, and the publisher stays on air', async () => {
    const pod = e.identity;
    const renewed = selfSigned({ dns: ['localhost'], ips: ['127.0.0.1'] });
    const rotatedAt = Date.now();
    await putTls('secure-tls', renewed);
    await waitUntil(
      'RTMPS serves the renewed certificate',
      async () => (await servedFingerprint(e.ports.rtmps!)) === renewed.fingerprint,
      60_000,
      200,
    );
    const swapMs = Date.now() - rotatedAt;
    await waitUntil(
      'HLS serves the renewed certificate',
      async () => (await servedFingerprint(e.ports.hls!)) === renewed.fingerprint,
      30_000,
    );
    // Keep watching the publisher for a while after the swap: same ffmpeg process, never reconnected.
    await new Promise((r) => setTimeout(r, 5000));
    expect(pub.proc.exitCode).toBeNull();
    expect((await host.pod(ns, 'secure'))?.identity).toBe(pod);
    expect(await host.mediamtxLog(ns, 'secure')).toContain('certificate reloaded');
    const hls = `https://127.0.0.1:${e.ports.hls}`;
    await waitPlayable(hls, path, {}, Date.now(), 30_000, trust(renewed.cert));
    const uptime = (Date.now() - pub.startedAt) / 1000;
    console.log(
      `[e2e] certificate rotation: renewed certificate served ${swapMs}ms after the Secret update; the RTMPS publisher stayed connected throughout (${uptime.toFixed(1)}s of uptime, one ffmpeg process, no reconnect), same pod`,
    );
    first = renewed;
  });

  it('a broken certificate is a condition naming the Secret, never a crash: the running pod keeps the last good one', async () => {
    const pod = e.identity;
    const stranger = selfSigned({ dns: ['localhost'] });
    await putTls('secure-tls', { cert: first.cert, key: stranger.key });
    const bad = await waitUntil(
      'CertificateInvalid',
      async () => {
        const x = await condition('secure', ConditionType.SecretsResolved);
        return x?.reason === Reason.CertificateInvalid && x;
      },
      60_000,
    );
    expect(bad.message).toContain(`Secret ${ns}/secure-tls: tls.key is not the private key`);
    expect(bad.message).not.toMatch(/BEGIN|PRIVATE/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(pub.proc.exitCode).toBeNull();
    expect((await host.pod(ns, 'secure'))?.identity).toBe(pod);
    expect(await servedFingerprint(e.ports.rtmps!)).toBe(first.fingerprint);
    await putTls('secure-tls', first);
    await waitUntil(
      'SecretsResolved again',
      async () => (await condition('secure', ConditionType.SecretsResolved))?.status === 'True',
      90_000,
    );
  });
});

d('a load balancer address arriving, and WebRTC through it', () => {
  let e: Awaited<ReturnType<typeof podUp>>;
  const path = 'live/lb';

  it('is LoadBalancerPending with no host-bearing URL until the load balancer has an address', async () => {
    await createStream(kube, ns, 'lb', {
      ingest: { protocols: ['rtmp'] },
      playback: { protocols: ['hls', 'webrtc'] },
      service: { type: 'LoadBalancer' },
    });
    const ls = await waitPhase(kube, ns, 'lb', 'Ready');
    e = await podUp('lb');
    expect(ls.status?.endpoints).toEqual({ scope: 'Pending' });
    expect(ls.status?.ingest?.rtmp).toEqual({ streamKey: 'lb' });
    expect(ls.status?.playback).toEqual({});
    expect(ls.status?.conditions?.find((x) => x.type === ConditionType.EndpointsReady)).toMatchObject({
      status: 'False',
      reason: Reason.LoadBalancerPending,
    });
  });

  it('advertises the address once it is assigned: URLs, an event, and WebRTC candidates, without a new pod', async () => {
    const pod = e.identity;
    // What a cloud's load balancer controller does once its load balancer is up.
    await kube.mergePatch(`${resourcePath('v1', 'Service', ns, 'lb')}/status`, {
      status: { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } },
    });
    const ls = await waitUntil('URLs with the address', async () => {
      const s = await getStream('lb');
      return s.status?.ingest?.url === 'rtmp://127.0.0.1:1935/live' && s;
    });
    expect(ls.status?.playback?.webrtc).toBe('http://127.0.0.1:8889/live/lb/');
    const assigned = await waitUntil('EndpointsAssigned event', async () =>
      (await kube.list(`/apis/events.k8s.io/v1/namespaces/${ns}/events`)).items.find(
        (x) => x.reason === 'EndpointsAssigned' && (x.regarding as { name?: string })?.name === 'lb',
      ),
    );
    expect(String(assigned.note)).toContain('127.0.0.1');
    await waitUntil(
      'MediaMTX reloaded with the candidate host',
      async () => (await host.mediamtxLog(ns, 'lb')).includes('reloading configuration'),
      30_000,
    );
    const cm = parse(
      (await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'ConfigMap', ns, 'lb-mediamtx'))).data[
        'mediamtx.yml'
      ]!,
    );
    expect(cm).toMatchObject({ webrtcAdditionalHosts: ['127.0.0.1'], webrtcIPsFromInterfaces: false });
    expect((await host.pod(ns, 'lb'))?.identity).toBe(pod);
  });

  it('delivers media to a real WebRTC client (MediaMTX’s own WHEP client) over the advertised ICE port', async () => {
    const pub = publishRtmp(`rtmp://127.0.0.1:${e.ports.rtmp}/${path}?token=${await publishToken('lb')}`, 600);
    publishers.push(pub);
    await waitPlayable(`http://127.0.0.1:${e.ports.hls}`, path, {}, pub.startedAt);
    // Between the client and the stream's WHEP endpoint, a recorder of the SDP answer (the candidates it advertises).
    const answers: string[] = [];
    const recorder = createServer(async (req, res) => {
      const body = await new Promise<Buffer>((r) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => r(Buffer.concat(chunks)));
      });
      const up = await fetch(`http://127.0.0.1:${e.ports.webrtc}${req.url}`, {
        method: req.method ?? 'GET',
        headers: Object.fromEntries(
          Object.entries(req.headers).filter(
            ([k, v]) => typeof v === 'string' && k !== 'host' && k !== 'content-length',
          ),
        ) as Record<string, string>,
        ...(body.length ? { body } : {}),
      });
      const text = await up.text();
      if (req.method === 'POST') answers.push(text);
      const headers: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
      });
      res.writeHead(up.status, headers).end(text);
    });
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
    const via = (recorder.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'vstream-whep-'));
    const api = await freePort();
    writeFileSync(
      join(dir, 'client.yml'),
      [
        'logLevel: info',
        'authMethod: internal',
        'api: true',
        `apiAddress: 127.0.0.1:${api}`,
        'rtsp: false',
        'rtmp: false',
        'hls: false',
        'webrtc: false',
        'srt: false',
        'moq: false',
        'paths:',
        '  relay:',
        `    source: whep://127.0.0.1:${via}/${path}/whep`,
        '',
      ].join('\n'),
    );
    let log = '';
    const started = Date.now();
    const client = spawn(toolPath('mediamtx'), [join(dir, 'client.yml')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(client);
    client.stdout.on('data', (b) => {
      log += String(b);
    });
    const relay = await waitUntil(
      'WHEP client receiving media',
      async () => {
        const r = await httpGet(`http://127.0.0.1:${api}/v3/paths/get/relay`);
        const body = r.status === 200 ? (JSON.parse(r.body) as { ready?: boolean; inboundBytes?: number }) : undefined;
        return body?.ready && (body.inboundBytes ?? 0) > 50_000 && body;
      },
      60_000,
      250,
    );
    console.log(
      `[e2e] WHEP client (MediaMTX's pion) through the advertised ICE port: ${relay.inboundBytes} bytes after ${Date.now() - started}ms`,
    );
    // The client reached the stream at the advertised host and ICE port.
    const established = /peer connection established, local candidate: (\S+), remote candidate: (\S+)/.exec(log);
    expect(established?.[2]).toBe(`host/udp/127.0.0.1/${e.ports['webrtc-ice']}`);
    // The answer offered exactly the advertised host, on one UDP and one TCP port: no pod address.
    const candidates = (answers[0] ?? '')
      .split('\r\n')
      .filter((l) => l.startsWith('a=candidate:'))
      .map((l) => l.split(' '));
    expect(new Set(candidates.map((f) => `${f[2]} ${f[4]}:${f[5]}`))).toEqual(
      new Set([`udp 127.0.0.1:${e.ports['webrtc-ice']}`, `tcp 127.0.0.1:${e.ports['webrtc-ice-tcp']}`]),
    );
    client.kill('SIGTERM');
    recorder.close();
  });
});

d('a streamer reconnecting', () => {
  let e: Awaited<ReturnType<typeof podUp>>;
  const path = 'live/obs';
  let apiToken = '';
  const source = async () => {
    const r = await httpGet(`http://127.0.0.1:${e.ports.api}/v3/paths/get/${path}`, {
      authorization: `Bearer ${apiToken}`,
    });
    const body = r.status === 200 ? (JSON.parse(r.body) as { online?: boolean; source?: { id?: string } }) : {};
    return body.online ? body.source?.id : undefined;
  };
  const ingest = async (token: string) => `rtmp://127.0.0.1:${e.ports.rtmp}/${path}?token=${token}`;
  /** Time from starting ffmpeg until MediaMTX has it as the path's publisher (a source other than `old`). */
  const takeover = async (p: Publisher, old: string | undefined) => {
    const id = await waitUntil(
      'new publisher on air',
      async () => {
        const now = await source();
        return now && now !== old && now;
      },
      20_000,
      20,
    );
    return { ms: Date.now() - p.startedAt, id };
  };
  const liveSamples: boolean[] = [];
  let sampling: NodeJS.Timeout | undefined;

  it('comes up, with a publisher on air', async () => {
    await createStream(kube, ns, 'obs', { ingest: { protocols: ['rtmp'] }, playback: { protocols: ['hls'] } });
    await waitPhase(kube, ns, 'obs', 'Ready');
    e = await podUp('obs');
    const s = await kube.get<{ data: Record<string, string> }>(resourcePath('v1', 'Secret', ns, 'obs-internal'));
    apiToken = Buffer.from(s.data['api-token']!, 'base64').toString('utf8');
    const first = publishRtmp(await ingest(await publishToken('obs')), 600);
    publishers.push(first);
    await takeover(first, undefined);
    await waitUntil('status live', async () => (await getStream('obs')).status?.live === true, 30_000);
    sampling = setInterval(() => {
      void getStream('obs').then((s) => liveSamples.push(s.status?.live === true));
    }, 250);
  });

  /**
   * From MediaMTX's own log: for each RTMP connection that went on air, when it opened and when it was publishing
   * (MediaMTX 1.20.1's RTMP reader analyses 2 s of media before any publisher, new or reconnecting, goes on air).
   */
  const onAirTimes = async () => {
    const lines = (await host.mediamtxLog(ns, 'obs'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { timestamp: string; message: string });
    const opened = new Map<string, number>();
    const out: { conn: string; openToPublishingMs: number; tookOver: boolean }[] = [];
    let closing = false;
    for (const l of lines) {
      const m = /\[RTMP\] \[conn ([^\]]+)\] (opened|is publishing)/.exec(l.message);
      if (/closing existing publisher/.test(l.message)) closing = true;
      if (!m) continue;
      const t = Date.parse(l.timestamp);
      if (m[2] === 'opened') opened.set(m[1]!, t);
      else {
        out.push({ conn: m[1]!, openToPublishingMs: t - opened.get(m[1]!)!, tookOver: closing });
        closing = false;
      }
    }
    return out;
  };

  it('takes over when the same token reconnects while the old session is still open, as fast as a fresh publish', async () => {
    const frozen = publishers.at(-1)!;
    const old = await source();
    // A network blip: the encoder stops sending, its TCP connection stays open (with overridePublisher off MediaMTX
    // refused every reconnect until this session timed out: readTimeout, 10 s).
    frozen.proc.kill('SIGSTOP');
    const again = publishRtmp(await ingest(await publishToken('obs')), 600);
    publishers.push(again);
    const t = await takeover(again, old);
    const times = await onAirTimes();
    const fresh = times.find((x) => !x.tookOver)!;
    const took = times.findLast((x) => x.tookOver)!;
    console.log(
      `[e2e] reconnect takeover (old session frozen and still open, same token): connection opened -> on air ${took.openToPublishingMs}ms (a fresh publish to an idle path: ${fresh.openToPublishingMs}ms; both are MediaMTX's 2 s RTMP track analysis); ffmpeg start -> on air ${t.ms}ms; the old session closed in the same instant`,
    );
    // What the takeover adds to a fresh publish: the hook's decision and MediaMTX closing the old publisher.
    expect(took.openToPublishingMs - fresh.openToPublishingMs).toBeLessThan(1000);
    frozen.proc.kill('SIGKILL');
  });

  it('refuses a different valid token while the stream is live', async () => {
    const secret = resourcePath('v1', 'Secret', ns, 'obs-publish');
    const current = await publishToken('obs');
    const other = 'other-holder-token-0123456789';
    await kube.mergePatch(secret, { data: { token: Buffer.from(`${current}\n${other}\n`).toString('base64') } });
    const hook = (t: string) =>
      fetch(`http://127.0.0.1:${e.ports['auth-hook']}/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ip: '127.0.0.1',
          user: '',
          password: '',
          token: t,
          action: 'publish',
          path,
          protocol: 'rtmp',
          id: null,
          query: `token=${t}`,
        }),
      }).then((r) => r.status);
    await waitUntil('sidecar knows the second token', async () => (await hook(other)) === 403, 60_000, 500);
    const onAir = publishers.at(-1)!;
    const thief = publishRtmp(await ingest(other), 10);
    expect(await thief.exited).not.toBe(0);
    expect(onAir.proc.exitCode).toBeNull();
    expect(await source()).toBeDefined();
  });

  it('takes over at once after kill -9 of the encoder, and status never said offline', async () => {
    const killed = publishers.at(-1)!;
    const old = await source();
    killed.proc.kill('SIGKILL');
    const again = publishRtmp(await ingest(await publishToken('obs')), 600);
    publishers.push(again);
    const t = await takeover(again, old);
    const took = (await onAirTimes()).at(-1)!;
    console.log(
      `[e2e] reconnect after kill -9 of ffmpeg: connection opened -> on air ${took.openToPublishingMs}ms; the new ffmpeg's start -> on air ${t.ms}ms`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    clearInterval(sampling);
    expect(liveSamples.length).toBeGreaterThan(5);
    expect(liveSamples.every(Boolean)).toBe(true);
  });
});

d('SRT ingest with the publish token in the streamid', () => {
  it('takes publish:<path>::<token> (as docs/streamers.md says), and refuses a wrong token', async () => {
    await createStream(kube, ns, 'srtin', { ingest: { protocols: ['srt'] }, playback: { protocols: ['hls'] } });
    const ls = await waitPhase(kube, ns, 'srtin', 'Ready');
    const e = await podUp('srtin');
    expect(ls.status?.ingest?.url).toBe(`srt://srtin.${ns}.svc:8890?streamid=publish:live/srtin`);
    const url = (token: string) => `${local(ls.status!.ingest!.srt!, e.ports.srt!)}::${token}&pkt_size=1316`;
    const wrong = publishRtmp(url('wrong-token-0123456789abc'), 10);
    publishers.push(wrong);
    const pub = publishRtmp(url(await publishToken('srtin')), 600);
    publishers.push(pub);
    const play = await waitPlayable(`http://127.0.0.1:${e.ports.hls}`, 'live/srtin', {}, pub.startedAt);
    console.log(`[e2e] SRT publish (streamid publish:<path>::<token>) -> first playable HLS: ${play.ms}ms`);
    expect(await wrong.exited).not.toBe(0);
    const auth = await httpGet(`http://127.0.0.1:${e.ports['auth-metrics']}/metrics`);
    expect(auth.body).toMatch(
      /vstream_auth_decisions_total\{action="publish",protocol="srt",result="allow",reason="publish_token"\}/,
    );
    expect(auth.body).toMatch(
      /vstream_auth_decisions_total\{action="publish",protocol="srt",result="deny",reason="bad_publish_token"\}/,
    );
    await pub.stop();
  });
});

d('the cost of TLS on HLS segment fetches', () => {
  it('measures throughput over HTTPS against HTTP in the same run, on the same content', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vstream-tlscost-'));
    const cert = selfSigned({ dns: ['localhost'], ips: ['127.0.0.1'] });
    writeFileSync(join(dir, 'tls.crt'), cert.cert);
    writeFileSync(join(dir, 'tls.key'), cert.key);
    const [rtmp, rtsp, plainHls, tlsHls] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const common = [
      'logLevel: warn',
      'authMethod: internal',
      'webrtc: false',
      'srt: false',
      'moq: false',
      'hlsVariant: mpegts',
      'hlsSegmentDuration: 1s',
      'hlsSegmentCount: 7',
    ];
    // One publisher; the HTTPS server pulls the same stream from the HTTP one, so both serve identical segments.
    writeFileSync(
      join(dir, 'plain.yml'),
      [
        ...common,
        `rtmpAddress: 127.0.0.1:${rtmp}`,
        `rtspAddress: 127.0.0.1:${rtsp}`,
        'rtspTransports: [tcp]',
        `hlsAddress: 127.0.0.1:${plainHls}`,
        'paths:',
        '  live/src: {}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'tls.yml'),
      [
        ...common,
        'rtmp: false',
        'rtsp: false',
        `hlsAddress: 127.0.0.1:${tlsHls}`,
        'hlsEncryption: true',
        `hlsServerKey: ${join(dir, 'tls.key')}`,
        `hlsServerCert: ${join(dir, 'tls.crt')}`,
        'paths:',
        '  live/src:',
        `    source: rtsp://127.0.0.1:${rtsp}/live/src`,
        '    rtspTransport: tcp',
        '',
      ].join('\n'),
    );
    for (const f of ['plain.yml', 'tls.yml'])
      procs.push(spawn(toolPath('mediamtx'), [join(dir, f)], { cwd: dir, stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 1000));
    const pub = publishRtmp(`rtmp://127.0.0.1:${rtmp}/live/src`, 120, { size: '854x480', bitrate: '2M' });
    publishers.push(pub);
    const agents = {
      http: new Agent({ connections: 8 }),
      https: new Agent({ connections: 8, connect: { ca: cert.cert, servername: 'localhost' } }),
    };
    const plainBase = `http://127.0.0.1:${plainHls}`;
    const tlsBase = `https://127.0.0.1:${tlsHls}`;
    await waitPlayable(plainBase, 'live/src', {}, pub.startedAt, 60_000, agents.http);
    await waitPlayable(tlsBase, 'live/src', {}, pub.startedAt, 60_000, agents.https);

    /** The newest complete segment's URL (a media playlist found through the multivariant one). */
    const newestSegment = async (base: string, agent: Agent) => {
      const index = await fetch(`${base}/live/src/index.m3u8`, { dispatcher: agent });
      const indexUrl = new URL(index.url);
      const mediaRef = (await index.text()).split('\n').find((l) => l && !l.startsWith('#'))!;
      const mediaUrl = new URL(mediaRef, indexUrl);
      const media = await (await fetch(mediaUrl, { dispatcher: agent })).text();
      const segs = media.split('\n').filter((l) => l && !l.startsWith('#'));
      return new URL(segs.at(-2) ?? segs.at(-1)!, mediaUrl).toString();
    };
    const round = async (base: string, agent: Agent, ms: number, fresh: boolean) => {
      const url = await newestSegment(base, agent);
      const until = Date.now() + ms;
      let bytes = 0;
      let n = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (Date.now() < until) {
            const res = await fetch(url, { dispatcher: agent, ...(fresh ? { headers: { connection: 'close' } } : {}) });
            const body = await res.arrayBuffer();
            if (res.status !== 200) throw new Error(`segment ${res.status}`);
            bytes += body.byteLength;
            n++;
          }
        }),
      );
      return { mbps: (bytes * 8) / 1e6 / (ms / 1000), rps: n / (ms / 1000) };
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const fresh of [false, true]) {
      const ratios: number[] = [];
      const plain: number[] = [];
      const tls: number[] = [];
      for (let i = 0; i < 5; i++) {
        const p = await round(plainBase, agents.http, 1500, fresh);
        const t = await round(tlsBase, agents.https, 1500, fresh);
        plain.push(p.mbps);
        tls.push(t.mbps);
        ratios.push(t.mbps / p.mbps);
      }
      console.log(
        `[e2e] HLS segment fetch, 8 concurrent clients, ${fresh ? 'a new connection per request' : 'keep-alive'}: HTTP ${median(plain).toFixed(0)} Mbit/s, HTTPS ${median(tls).toFixed(0)} Mbit/s; HTTPS/HTTP ${median(ratios).toFixed(2)} [${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}] (median [range] of 5 interleaved rounds)`,
      );
      expect(median(ratios)).toBeGreaterThan(0.1);
    }
    await pub.stop();
  });
});
