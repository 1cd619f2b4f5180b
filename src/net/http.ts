// One HTTP client for the product's processes, over node:http and node:https.
// Why not undici (npm or Node's own, behind global fetch): it parses HTTP with llhttp compiled to WebAssembly, and
// compiling that module costs a process ≈ 25 MiB of resident memory (a bare Node 24 process making 200 requests,
// MALLOC_ARENA_MAX=2: node:http +5 MiB, undici's request +30 MiB, fetch +33 MiB, measured). node:http parses with
// the same llhttp built into the binary. The controller, the recording runner and the restream sidecar each ran
// undici; the API is the subset of undici's `request` they used, so their code did not change shape.
import type { Agent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { http, https } from './node-http.ts';

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Aborts the request and, once answered, the body; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Connection pool and TLS settings; default Node's global agents (keep-alive, 5 s idle). */
  agent?: Agent;
}

export interface HttpBody {
  /** The body as a Node stream (a watch's lines). */
  readonly stream: IncomingMessage;
  /** The body; past `limit` bytes (declared or received) the download stops and this rejects, naming the limit. */
  text(opts?: { limit?: number }): Promise<string>;
  json<T = unknown>(): Promise<T>;
  /** Reads and drops the body (so the connection is reused); past `limit` bytes the connection is closed instead. */
  dump(opts?: { limit?: number }): Promise<void>;
}

export interface HttpResponse {
  statusCode: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: HttpBody;
}

/** The reason an aborted signal gives (fetch and undici reject with it too), else the error itself. */
const failure = (e: unknown, signal?: AbortSignal) => (signal?.aborted ? signal.reason : e);

function bodyOf(res: IncomingMessage, signal?: AbortSignal): HttpBody {
  // An aborted or reset response is destroyed with an error; without a listener that error would end the process.
  // Readers still see it: async iteration rejects with the stream's error.
  res.on('error', () => {});
  const text = async ({ limit = Number.POSITIVE_INFINITY } = {}) => {
    const tooLarge = () => {
      res.destroy();
      return new Error(`body larger than ${limit} bytes`);
    };
    if (Number(res.headers['content-length'] ?? 0) > limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res) {
        n += (c as Buffer).length;
        if (n > limit) throw tooLarge();
        chunks.push(c as Buffer);
      }
    } catch (e) {
      throw failure(e, signal);
    }
    return Buffer.concat(chunks).toString('utf8');
  };
  return {
    stream: res,
    text,
    json: async <T>() => JSON.parse(await text()) as T,
    dump: async ({ limit = Number.POSITIVE_INFINITY } = {}) => {
      let n = 0;
      try {
        for await (const c of res) {
          n += (c as Buffer).length;
          if (n > limit) {
            res.destroy();
            return;
          }
        }
      } catch (e) {
        throw failure(e, signal);
      }
    },
  };
}

export function request(url: string | URL, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const client = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new Error(`unsupported protocol ${u.protocol}`));
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const req = client.request(u, {
      method: opts.method ?? 'GET',
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
      ...(signal ? { signal } : {}),
    });
    req.on('error', (e) => reject(failure(e, signal)));
    req.on('response', (res) =>
      resolve({
        statusCode: res.statusCode ?? 0,
        statusMessage: res.statusMessage ?? '',
        headers: res.headers,
        body: bodyOf(res, signal),
      }),
    );
    req.end(opts.body);
  });
}

/**
 * The lines of a body as they arrive (a watch's events). Not node:readline: its interface re-emits the stream's
 * errors as its own, and once a reader has left the loop nobody listens there, so a watch aborted after its loop
 * ended (an ERROR event, then the connection closed) became an uncaught exception. Leaving this loop destroys the
 * stream quietly; an error while reading rejects the loop.
 */
export async function* lines(
  stream: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of stream) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n', start)) {
      const end = i > start && rest.charCodeAt(i - 1) === 13 ? i - 1 : i;
      yield rest.slice(start, end);
      start = i + 1;
    }
    rest = rest.slice(start);
  }
  rest += decoder.end();
  if (rest) yield rest;
}
