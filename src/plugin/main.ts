#!/usr/bin/env node
// kubectl-vstream: `kubectl vstream <command>` (installed by krew, plugins/krew/vstream.yaml, or as kubectl-vstream
// on $PATH). It uses the user's kubeconfig and RBAC, like kubectl itself.
import { readFileSync } from 'node:fs';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { positiveDuration } from '../cli-flags.ts';
import { Kube } from '../kube/rest.ts';
import { durationSeconds } from '../render/mediamtx-config.ts';
import { VERSION } from '../version.ts';
import {
  type IngestProtocol,
  type OpenApi,
  type Out,
  obs,
  PluginError,
  recordingsList,
  recordingsUrl,
  status,
  type Target,
  viewerToken,
} from './commands.ts';

export const HELP = `kubectl vstream ${VERSION}: LiveStreams from your terminal, with your own kubeconfig and RBAC

Usage: kubectl vstream <command> <stream> [-n NAMESPACE] [--context CONTEXT] [--kubeconfig FILE]

Commands:
  obs <stream> [--protocol rtmp|srt|webrtc|rtsp]
                     what to paste into OBS: Server and Stream Key (RTMP), or WHIP URL and Bearer token
  status <stream> [-w|--watch]
                     phase, live, viewers, conditions and every endpoint (again on each change with --watch)
  token viewer <stream> --key FILE [--ttl 1h] [--alg ALG] [--subject SUB]
                     a viewer JWT signed with your private key, and the HLS URL to play with it
  recordings list <stream>
                     the stream's recording segments (through a port-forward to its MediaMTX API)
  recordings url <stream> [--start RFC3339] [--duration 1h] [--key FILE] [--ttl 1h]
                     a URL that plays a recorded range (default: from the oldest recording), with a fresh
                     viewer token signed with --key for streams with playback.access jwt

Tokens are read from their Secrets with your credentials: without the right to read a Secret
(kubectl auth can-i get secret/<name>), nothing from it is shown.`;

export interface PluginDeps {
  out: Out;
  err: Out;
  /** For tests: how to reach a stream's MediaMTX API (default: a port-forward). */
  openApi?: OpenApi;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/** Runs one command; resolves to the exit code. */
export async function runPlugin(argv: string[], deps: PluginDeps): Promise<number> {
  const common = {
    namespace: { type: 'string', short: 'n' },
    context: { type: 'string' },
    kubeconfig: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  } satisfies ParseArgsOptionsConfig;
  const [cmd, sub] = argv;
  const twoWords = cmd === 'token' || cmd === 'recordings';
  const name = twoWords ? `${cmd} ${sub ?? ''}` : (cmd ?? '');
  const extra: Record<string, ParseArgsOptionsConfig> = {
    obs: { protocol: { type: 'string' } },
    status: { watch: { type: 'boolean', short: 'w' } },
    'token viewer': {
      key: { type: 'string' },
      ttl: { type: 'string' },
      alg: { type: 'string' },
      subject: { type: 'string' },
    },
    'recordings list': {},
    'recordings url': {
      start: { type: 'string' },
      duration: { type: 'string' },
      key: { type: 'string' },
      ttl: { type: 'string' },
      alg: { type: 'string' },
    },
  };
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    deps.out(HELP);
    return 0;
  }
  if (cmd === 'version' || cmd === '--version') {
    deps.out(VERSION);
    return 0;
  }
  const options = extra[name];
  if (!options) {
    deps.err(`kubectl vstream: unknown command "${name.trim()}"\n\n${HELP}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv.slice(twoWords ? 2 : 1),
      options: { ...common, ...options },
      allowPositionals: true,
      strict: true,
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    deps.err(`kubectl vstream ${name}: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    deps.out(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    deps.err(
      `kubectl vstream ${name}: give exactly one stream name${positionals.length ? ` (got ${positionals.join(' ')})` : ''}`,
    );
    return 2;
  }
  try {
    const kubeconfig = values.kubeconfig as string | undefined;
    const context = values.context as string | undefined;
    const kube = await Kube.load(kubeconfig, {
      ...(context ? { context } : {}),
      ...(deps.env ? { env: deps.env } : {}),
    });
    // Like kubectl: -n, else the context's namespace, else default.
    const namespace = (values.namespace as string | undefined) ?? kube.namespace ?? 'default';
    const t: Target = { namespace, name: positionals[0]! };
    switch (name) {
      case 'obs': {
        const p = values.protocol as string | undefined;
        if (p && !['rtmp', 'srt', 'webrtc', 'rtsp'].includes(p))
          throw new PluginError(`--protocol must be one of rtmp, srt, webrtc, rtsp, got "${p}"`);
        await obs(kube, t, deps.out, p as IngestProtocol | undefined);
        break;
      }
      case 'status':
        await status(kube, t, deps.out, {
          watch: Boolean(values.watch),
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
        break;
      case 'token viewer': {
        if (!values.key) throw new PluginError('--key FILE is required (the private key that signs viewer tokens)');
        const ttlSeconds = positiveDuration('ttl', values.ttl, '1h', durationSeconds);
        await viewerToken(kube, t, deps.out, {
          keyText: readFileSync(String(values.key), 'utf8'),
          ttlSeconds,
          ...(values.alg ? { alg: String(values.alg) } : {}),
          ...(values.subject ? { subject: String(values.subject) } : {}),
        });
        break;
      }
      case 'recordings url': {
        await recordingsUrl(kube, t, deps.out, {
          ...(values.start ? { start: String(values.start) } : {}),
          durationSeconds: positiveDuration('duration', values.duration, '1h', durationSeconds),
          ttlSeconds: positiveDuration('ttl', values.ttl, '1h', durationSeconds),
          ...(values.key ? { keyText: readFileSync(String(values.key), 'utf8') } : {}),
          ...(values.alg ? { alg: String(values.alg) } : {}),
        });
        break;
      }
      case 'recordings list': {
        const { portForwardApi } = await import('./tunnel.ts');
        const openApi =
          deps.openApi ??
          ((x: Target) =>
            portForwardApi(x, { ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) }));
        await recordingsList(kube, t, deps.out, openApi);
        break;
      }
    }
    return 0;
  } catch (e) {
    deps.err(`kubectl vstream ${name}: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const code = await runPlugin(process.argv.slice(2), {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    signal: ac.signal,
  });
  process.exit(code);
}
