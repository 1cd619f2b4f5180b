// The `vstream` commands (src/cli.ts dispatches here for everything but the auth sidecar's supervisor).
import { readFileSync, writeFileSync } from 'node:fs';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { API_VERSION, DEFAULT_MEDIAMTX_IMAGE, type LiveStream, resolveSpec } from './api/livestream.ts';
import {
  baseUrl,
  FlagError,
  hostAddress,
  hostPort,
  nonEmpty,
  oneOf,
  positiveDuration,
  positiveInt,
} from './cli-flags.ts';
// The operator's heavier modules (the API client, the CRD, the renderer) are imported by the commands that use them:
// `vstream auth` runs in every stream pod and loads none of them (~8 MiB of RSS per pod, bench/stream-cost.ts).
import type { Kube } from './kube/rest.ts';
import { DEFAULT_IMAGE, VERSION } from './version.ts';

const HELP = `vstream ${VERSION}: LiveStream operator for MediaMTX

Usage: vstream <command> [options]

Commands:
  controller            run the operator (reconciles LiveStreams)
  auth                  run the auth sidecar MediaMTX asks about every publish and read
  media                 run the media container (thumbnail keyframes)
  token viewer          print a viewer JWT for a stream
  token publish         print (or --rotate) a stream's publish token
  token keygen          create a signing key pair for viewer tokens
  crd                   print the LiveStream CustomResourceDefinition
  version               print the version

Run "vstream <command> --help" for the options of a command.`;

const HELPS: Record<string, string> = {
  controller: `Usage: vstream controller [options]
  --kubeconfig FILE        kubeconfig (default: every file in $KUBECONFIG, merged like kubectl; then in-cluster;
                           then ~/.kube/config)
  --sidecar-image IMAGE    auth sidecar image injected into stream pods (default ${DEFAULT_IMAGE}, env VSTREAM_SIDECAR_IMAGE)
  --metrics-addr HOST:PORT metrics and health (/metrics, /readyz, /livez) (default 0.0.0.0:8080)
  --leader-elect           elect a leader with a Lease; run this with more than one replica
  --lease-namespace NS     namespace of the Lease (default: $POD_NAMESPACE or default)
  --concurrency N          LiveStreams reconciled in parallel (default 8)
  --probe cluster|off|URL  ask each stream's MediaMTX API for live/viewers (default cluster); a URL stands in
                           for every stream's API at URL/<namespace>/<name> (benchmarks)
  --node-address HOST      where NodePort streams are reached from outside: a node's public IP or DNS name
                           (status URLs use it with each node port; spec.service.externalHost overrides it)
  --watch-namespaces A,B   reconcile LiveStreams in these namespaces only (namespaced RBAC is enough; default: all)
  --image-pull-secrets A,B image pull secrets added to every stream pod (each must exist in the stream's namespace)
  --mediamtx-image IMAGE   MediaMTX image of streams that do not name one (default ${DEFAULT_MEDIAMTX_IMAGE})
  --ffmpeg-image IMAGE     image with ffmpeg for the thumbnail container (default docker.io/bluenviron/mediamtx:1.20.1-ffmpeg)
  --no-memory-saver        leave V8's memory-saver mode off (on by default: at 1 000 LiveStreams it held peak RSS at
                           127 instead of 144-160 MiB for about the same CPU, bench/README.md)`,
  auth: `Usage: vstream auth --config FILE [options]
  --config FILE            auth.json rendered by the operator (mounted from the stream's ConfigMap)
  --listen HOST:PORT       hook address MediaMTX calls (default 127.0.0.1:9000)
  --ops-listen HOST:PORT   /metrics, /healthz, /startz, /readyz (default 0.0.0.0:9091)
  --mediamtx-api URL       MediaMTX's control API, asked who holds the stream (default http://127.0.0.1:9997)
  --thumbnail-listen HOST:PORT  the thumbnail server, with spec.thumbnails (default 0.0.0.0:8880)
  --single-process         no supervisor: the hook refuses connections while the sidecar restarts (MediaMTX then
                           tells a publishing streamer Unauthorized); by default a supervisor holds the hook socket`,
  media: `Usage: vstream media --config FILE [options]
  --config FILE            media.json rendered by the operator (mounted from the stream's ConfigMap)
  --source URL             the pod's MediaMTX RTMP listener (default from media.json: rtmp://127.0.0.1:1935)
  --mediamtx-api URL       MediaMTX's control API, asked whether the stream is live (default http://127.0.0.1:9997)`,
  'token viewer': `Usage: vstream token viewer (--stream NS/NAME | --path PATH --issuer URL) --key FILE [options]
  --stream NS/NAME         read path, issuer and audience from the LiveStream
  --path PATH              the MediaMTX path (when not using --stream)
  --issuer URL             iss claim (default: the LiveStream's spec.playback.jwt.issuer)
  --audience AUD           aud claim (default: the LiveStream's, or "vstream")
  --key FILE               private JWK, PKCS#8 PEM, or the HMAC secret
  --alg ALG                signature algorithm (default from the key)
  --ttl DURATION           lifetime, e.g. 1h, 30m (default 1h)
  --subject SUB            sub claim (a viewer id, for logs)
  --kubeconfig FILE`,
  'token publish': `Usage: vstream token publish --stream NS/NAME [--rotate] [--kubeconfig FILE]
  Prints the current publish token. --rotate writes a new one and keeps the previous one valid.`,
  'token keygen': `Usage: vstream token keygen --private-out FILE --jwks-out FILE [--alg ES256]
  Writes a private JWK (keep it where tokens are issued) and a public JWKS (put it in the Secret
  spec.playback.jwt.keysSecretRef names).`,
};

function usage(cmd: string, code = 0): never {
  (code ? console.error : console.log)(HELPS[cmd] ?? HELP);
  process.exit(code);
}

function fail(message: string): never {
  console.error(`vstream: ${message}`);
  process.exit(2);
}

const kubeModule = () => import('./kube/rest.ts');
const loadKube = async (file?: string) => (await kubeModule()).Kube.load(file);

async function getStream(kube: Kube, ref: string): Promise<LiveStream> {
  const [ns, name] = ref.includes('/') ? ref.split('/') : ['default', ref];
  const { resourcePath } = await kubeModule();
  return kube.get<LiveStream>(resourcePath(API_VERSION, 'LiveStream', ns, name));
}

async function main(argv: string[]) {
  const [cmd, sub] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') usage('', 0);
  const name = cmd === 'token' ? `token ${sub ?? ''}` : cmd;
  const rest = argv.slice(cmd === 'token' ? 2 : 1);
  const parse = (options: ParseArgsOptionsConfig) => {
    try {
      const { values } = parseArgs({
        args: rest,
        options: { ...options, help: { type: 'boolean', short: 'h' } },
        strict: true,
        allowNegative: true, // --no-<flag> for boolean flags, e.g. --no-memory-saver
      });
      const v = values as Record<string, string | boolean | undefined>;
      if (v.help) usage(name, 0);
      return v;
    } catch (e) {
      console.error(`vstream ${name}: ${(e as Error).message}\n`);
      usage(name, 2);
    }
  };
  const s = { type: 'string' } as const;
  switch (name) {
    case 'version':
      console.log(VERSION);
      return;
    case 'crd': {
      const [{ stringify }, { liveStreamCrd }] = await Promise.all([import('yaml'), import('./api/crd.ts')]);
      process.stdout.write(stringify(liveStreamCrd(), { lineWidth: 0 }));
      return;
    }
    case 'controller': {
      const v = parse({
        kubeconfig: s,
        'sidecar-image': s,
        'metrics-addr': s,
        'leader-elect': { type: 'boolean' },
        'lease-namespace': s,
        concurrency: s,
        probe: s,
        'node-address': s,
        'watch-namespaces': s,
        'image-pull-secrets': s,
        'mediamtx-image': s,
        'ffmpeg-image': s,
        'memory-saver': { type: 'boolean' },
      });
      // Every value checked before anything starts: a bad flag is an error naming it, not a controller with NaN workers.
      const concurrency = positiveInt('concurrency', v.concurrency, 8);
      const metricsAddr = hostPort('metrics-addr', v['metrics-addr'], '0.0.0.0:8080');
      // A URL is a stand-in for every stream's control API (benchmarks): <url>/<namespace>/<name>/v3/...
      const probeUrl =
        typeof v.probe === 'string' && /^https?:\/\//.test(v.probe) ? baseUrl('probe', v.probe) : undefined;
      const probe = probeUrl
        ? (namespace: string, name: string) => `${probeUrl}/${namespace}/${name}`
        : oneOf('probe', v.probe, ['cluster', 'off'] as const, 'cluster');
      const nodeAddress = hostAddress('node-address', v['node-address']);
      const leaseNamespace = nonEmpty('lease-namespace', v['lease-namespace'], process.env.POD_NAMESPACE || 'default');
      const sidecarImage = nonEmpty(
        'sidecar-image',
        v['sidecar-image'],
        process.env.VSTREAM_SIDECAR_IMAGE || DEFAULT_IMAGE,
      );
      const { parseNamespaces, parseObjectNames } = await import('./controller/namespaces.ts');
      const names = (flag: string, parse: (s: string) => string[]) => {
        try {
          return typeof v[flag] === 'string' ? parse(String(v[flag])) : [];
        } catch (e) {
          throw new FlagError(`--${flag}: ${(e as Error).message}`);
        }
      };
      const watchNamespaces = names('watch-namespaces', parseNamespaces);
      const imagePullSecrets = names('image-pull-secrets', parseObjectNames);
      const mediamtxImage = nonEmpty('mediamtx-image', v['mediamtx-image'], DEFAULT_MEDIAMTX_IMAGE);
      // Before the controller's modules load, so every heap decision is made in this mode. A V8 flag that NODE_OPTIONS
      // does not accept (Node allows only a few V8 flags there), hence a flag of ours.
      if (v['memory-saver'] !== false) (await import('node:v8')).setFlagsFromString('--memory-saver-mode');
      const { runController } = await import('./controller/main.ts');
      const c = await runController({
        ...(v.kubeconfig ? { kubeconfig: String(v.kubeconfig) } : {}),
        sidecarImage,
        metricsAddr,
        leaderElect: Boolean(v['leader-elect']),
        leaseNamespace,
        concurrency,
        probe,
        // The stand-in answers for the sidecars too (GET <url>/<namespace>/<name>/recording).
        ...(typeof probe === 'function' ? { recordingLocator: probe } : {}),
        ...(nodeAddress ? { nodeAddress } : {}),
        watchNamespaces,
        imagePullSecrets,
        mediamtxImage,
        ...(v['ffmpeg-image'] ? { ffmpegImage: String(v['ffmpeg-image']) } : {}),
      });
      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        process.once(sig, () => void c.shutdown().then(() => process.exit(0)));
      }
      return;
    }
    case 'auth': {
      const v = parse({
        config: s,
        listen: s,
        'ops-listen': s,
        'mediamtx-api': s,
        'thumbnail-listen': s,
        'single-process': { type: 'boolean' },
        worker: { type: 'boolean' }, // internal: the supervisor's worker
      });
      if (!v.config) usage('auth', 2);
      const thumbnailListen =
        v['thumbnail-listen'] === undefined ? undefined : hostPort('thumbnail-listen', v['thumbnail-listen'], '');
      const listen = v.listen === undefined ? undefined : hostPort('listen', v.listen, '');
      const opsListen = v['ops-listen'] === undefined ? undefined : hostPort('ops-listen', v['ops-listen'], '');
      const mediamtxApi =
        v['mediamtx-api'] === undefined ? undefined : baseUrl('mediamtx-api', String(v['mediamtx-api']));
      const { runAuth } = await import('./auth/main.ts');
      const a = await runAuth({
        ...(v.worker ? { worker: true } : {}),
        config: String(v.config),
        ...(listen ? { listen } : {}),
        ...(opsListen ? { opsListen } : {}),
        ...(mediamtxApi ? { mediamtxApi } : {}),
        ...(thumbnailListen ? { thumbnailListen } : {}),
      });
      for (const sig of ['SIGTERM', 'SIGINT'] as const)
        process.once(sig, () => void a.close().then(() => process.exit(0)));
      return;
    }
    case 'media': {
      const v = parse({ config: s, source: s, 'mediamtx-api': s });
      if (!v.config) usage('media', 2);
      const api = v['mediamtx-api'] === undefined ? undefined : baseUrl('mediamtx-api', String(v['mediamtx-api']));
      const { superviseMedia } = await import('./media/main.ts');
      const r = await superviseMedia({
        config: String(v.config),
        ...(v.source ? { source: String(v.source) } : {}),
        ...(api ? { api } : {}),
      });
      for (const sig of ['SIGTERM', 'SIGINT'] as const)
        process.once(sig, () => void r.close().then(() => process.exit(0)));
      return;
    }
    case 'token viewer': {
      const v = parse({
        stream: s,
        path: s,
        issuer: s,
        audience: s,
        key: s,
        alg: s,
        ttl: s,
        subject: s,
        kubeconfig: s,
      });
      if (!v.key) fail('token viewer: --key is required');
      const { durationSeconds } = await import('./render/mediamtx-config.ts');
      const ttlSeconds = positiveDuration('ttl', v.ttl, '1h', durationSeconds);
      let path = v.path as string | undefined;
      let issuer = v.issuer as string | undefined;
      let audience = v.audience as string | undefined;
      if (v.stream) {
        const ls = await getStream(await loadKube(v.kubeconfig as string | undefined), String(v.stream));
        const spec = resolveSpec(ls.metadata.name, ls.spec);
        path ??= spec.path;
        issuer ??= spec.playback.jwt?.issuer;
        audience ??= spec.playback.jwt?.audience;
      }
      if (!path) fail('token viewer: give --stream or --path');
      if (!issuer) fail('token viewer: give --issuer (or a --stream with spec.playback.jwt)');
      const { parseSigningKey, signViewerToken } = await import('./token/viewer.ts');
      const key = await parseSigningKey(readFileSync(String(v.key), 'utf8'), v.alg as string | undefined);
      const token = await signViewerToken({
        paths: [path],
        issuer,
        audience: audience ?? 'vstream',
        ttlSeconds,
        ...(v.subject ? { subject: String(v.subject) } : {}),
        key,
      });
      console.log(token);
      return;
    }
    case 'token publish': {
      const v = parse({ stream: s, rotate: { type: 'boolean' }, kubeconfig: s });
      if (!v.stream) fail('token publish: --stream is required');
      const kube = await loadKube(v.kubeconfig as string | undefined);
      const ls = await getStream(kube, String(v.stream));
      const status = ls.status?.ingest?.publishTokenSecretRef;
      const ref = { name: status?.name ?? `${ls.metadata.name}-publish`, key: status?.key ?? 'token' };
      const { resourcePath } = await kubeModule();
      const path = resourcePath('v1', 'Secret', ls.metadata.namespace, ref.name);
      const secret = await kube.get<{ data?: Record<string, string> }>(path);
      const current = Buffer.from(secret.data?.[ref.key] ?? '', 'base64').toString('utf8');
      if (!v.rotate) {
        console.log(current.split('\n')[0]?.trim());
        return;
      }
      const { rotateTokens } = await import('./token/viewer.ts');
      const next = rotateTokens(current);
      await kube.mergePatch(path, { data: { [ref.key]: Buffer.from(next).toString('base64') } });
      console.log(next.split('\n')[0]);
      console.error('rotated: the previous token stays valid until the next rotation');
      return;
    }
    case 'token keygen': {
      const v = parse({ alg: s, 'private-out': s, 'jwks-out': s });
      if (!v['private-out'] || !v['jwks-out']) usage('token keygen', 2);
      const { generateViewerKeys } = await import('./token/viewer.ts');
      const { privateJwk, jwks } = await generateViewerKeys(String(v.alg ?? 'ES256'));
      writeFileSync(String(v['private-out']), `${JSON.stringify(privateJwk)}\n`, { mode: 0o600 });
      writeFileSync(String(v['jwks-out']), `${JSON.stringify(jwks)}\n`);
      console.log(`wrote ${v['private-out']} (private, keep secret) and ${v['jwks-out']} (public JWKS)`);
      return;
    }
    default:
      console.error(`vstream: unknown command "${name.trim()}"\n`);
      usage('', 2);
  }
}

const command = () => (process.argv[2] === 'token' ? `token ${process.argv[3] ?? ''}` : process.argv[2]);
main(process.argv.slice(2)).catch((e: Error) => {
  if (!(e instanceof FlagError)) fail(e.message);
  // Worded like parseArgs' own errors: "vstream controller: --concurrency must be ...".
  console.error(`vstream ${command()}: ${e.message}`);
  process.exit(2);
});
