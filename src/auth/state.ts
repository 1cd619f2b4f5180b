// Loads the sidecar's config and secret files and reloads them when kubelet swaps the ..data symlink of a mounted
// Secret or ConfigMap. A file that fails to parse keeps the last good value and is reported, never half-applied.
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parseAuthConfig } from './config.ts';
import { type AuthState, JwtCache } from './decide.ts';
import { type JwtKeys, parseJwtKeys, TokenSet } from './keys.ts';
import { RemoteJwks } from './remote-jwks.ts';

export type Source = 'config' | 'publish' | 'api' | 'jwt';

export interface ReloadEvent {
  source: Source;
  ok: boolean;
  error?: string;
}

export class AuthStateStore {
  state!: AuthState;
  /** Further readiness checks (features that need MediaMTX running): each says what it waits for, or undefined. */
  readonly readyWhen: (() => string | undefined)[] = [];
  private readonly digests = new Map<string, string>();
  private readonly errors = new Map<Source, string>();
  private watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private readonly configFile: string;
  private readonly log: Logger;
  private readonly onReload: (e: ReloadEvent) => void;

  constructor(configFile: string, log: Logger, onReload: (e: ReloadEvent) => void = () => {}) {
    this.configFile = configFile;
    this.log = log;
    this.onReload = onReload;
  }

  /** First load: the config must parse (nothing can be decided without it); secrets may still be missing. */
  async init(): Promise<void> {
    const config = parseAuthConfig(readFileSync(this.configFile, 'utf8'));
    this.state = { config, jwtCache: new JwtCache() };
    this.reload(true);
    await this.state.remote?.refresh();
  }

  /** Ready when every secret the config needs has loaded at least once. */
  get ready(): boolean {
    const s = this.state;
    if (!s?.publishTokens || !s.apiTokens) return false;
    if (s.config.read.access === 'jwt') return Boolean(s.jwtKeys || s.remote?.current());
    return true;
  }

  get problems(): Record<string, string> {
    return Object.fromEntries(this.errors);
  }

  reload(force = false): void {
    const prev = this.state;
    const config = this.readIfChanged('config', this.configFile, parseAuthConfig, force) ?? prev.config;
    const configChanged = config !== prev.config;
    const next: AuthState = { ...prev, config };
    const publish = this.readIfChanged(
      'publish',
      config.publish.tokenFile,
      (t) => TokenSet.parse(t, 'publish token file'),
      force || configChanged,
    );
    if (publish) next.publishTokens = publish;
    const api = this.readIfChanged(
      'api',
      config.api.tokenFile,
      (t) => TokenSet.parse(t, 'api token file'),
      force || configChanged,
    );
    if (api) next.apiTokens = api;
    const jwt = config.read.jwt;
    if (jwt?.keysFile) {
      const keys = this.readIfChanged<JwtKeys>(
        'jwt',
        jwt.keysFile,
        (t) => parseJwtKeys(t, 'jwt keys file', jwt.algorithms),
        force || configChanged,
      );
      if (keys) next.jwtKeys = keys;
    } else next.jwtKeys = undefined;
    if (configChanged || force) {
      prev.remote?.stop();
      next.remote = jwt?.jwksURL
        ? new RemoteJwks({
            url: jwt.jwksURL,
            algorithms: jwt.algorithms,
            onResult: (ok, detail) => {
              if (ok) this.errors.delete('jwt');
              else {
                if (this.errors.get('jwt') !== `remote JWKS: ${detail}`)
                  this.log.warn(
                    { source: 'jwt', url: jwt.jwksURL, error: detail },
                    'remote JWKS: keeping last good keys',
                  );
                this.errors.set('jwt', `remote JWKS: ${detail}`);
              }
              this.state.jwtCache.clear();
              this.onReload({ source: 'jwt', ok, ...(ok ? {} : { error: detail }) });
            },
          })
        : undefined;
      if (next.remote) void next.remote.start();
    }
    if (next.publishTokens !== prev.publishTokens || next.jwtKeys !== prev.jwtKeys || configChanged) {
      next.jwtCache = new JwtCache();
    }
    this.state = next;
  }

  private readIfChanged<T>(source: Source, file: string, parse: (text: string) => T, force: boolean): T | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return this.fail(source, file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const digest = createHash('sha256').update(text).digest('hex');
    if (!force && this.digests.get(file) === digest) return undefined;
    try {
      const value = parse(text);
      this.digests.set(file, digest);
      this.errors.delete(source);
      this.log.info({ source, file }, 'loaded');
      this.onReload({ source, ok: true });
      return value;
    } catch (e) {
      // Remember the bad digest so a broken file is reported once, not on every poll.
      this.digests.set(file, digest);
      return this.fail(source, file, (e as Error).message);
    }
  }

  private fail(source: Source, file: string, error: string): undefined {
    if (this.errors.get(source) !== error) {
      this.log.warn({ source, file, error }, 'keeping last good value');
      this.onReload({ source, ok: false, error });
    }
    this.errors.set(source, error);
    return undefined;
  }

  /** Watches the directories (kubelet replaces files via a symlink swap) and polls as a backstop. */
  watch(pollMs = 5_000): void {
    const c = this.state.config;
    const files = [this.configFile, c.publish.tokenFile, c.api.tokenFile, c.read.jwt?.keysFile].filter(
      Boolean,
    ) as string[];
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      try {
        this.watchers.push(watch(dir, () => this.schedule()));
      } catch (e) {
        this.log.warn({ dir, error: (e as Error).message }, 'cannot watch directory; polling only');
      }
    }
    this.poll = setInterval(() => this.reload(), pollMs);
    this.poll.unref();
  }

  private schedule(): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.reload(), 50);
  }

  close(): void {
    for (const w of this.watchers) w.close();
    clearInterval(this.poll);
    clearTimeout(this.pending);
    this.state?.remote?.stop();
  }
}
