// A bearer token read from a file that something else rotates: kubelet's projected ServiceAccount token (renewed well
// before it expires, ~hourly) or a kubeconfig user's tokenFile. Like client-go's cached file token source, the file is
// read at most once per period (a minute), never per request; a 401 lets a request re-read it sooner (the token may
// have been rotated in between), still at most once a second however many requests fail; a read that fails keeps
// the last token it had.

export interface TokenFileOptions {
  /** Minimum time between two reads (client-go: 1 minute). */
  periodMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  read: (path: string) => string;
  onError?: (error: Error) => void;
}

const MIN_REREAD_MS = 1_000;

export class TokenFile {
  readonly path: string;
  private token?: string;
  private readAt = 0;
  private invalidated = false;
  private readonly o: Required<Omit<TokenFileOptions, 'onError'>> & Pick<TokenFileOptions, 'onError'>;

  constructor(path: string, opts: TokenFileOptions) {
    this.path = path;
    this.o = { periodMs: 60_000, now: () => performance.now(), ...opts };
  }

  /** The current token; reads the file when it has not been read for a period. Throws only if it never could. */
  get(): string {
    const now = this.o.now();
    const age = now - this.readAt;
    if (this.token === undefined || age >= this.o.periodMs || (this.invalidated && age >= MIN_REREAD_MS)) {
      this.invalidated = false;
      try {
        const text = this.o.read(this.path).trim();
        if (!text) throw new Error(`token file ${this.path} is empty`);
        this.token = text;
      } catch (e) {
        if (this.token === undefined) throw new Error(`cannot read token file ${this.path}: ${(e as Error).message}`);
        this.o.onError?.(e as Error);
      }
      // Also after a failed read: retry next period, not on every request.
      this.readAt = now;
    }
    return this.token;
  }

  /** A request with `token` was refused (401): re-read soon, unless the file has already given another token. */
  invalidate(token: string): void {
    if (token === this.token) this.invalidated = true;
  }
}
