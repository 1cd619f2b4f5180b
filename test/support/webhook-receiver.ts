// A webhook receiver on 127.0.0.1 that checks every request with the verification snippet of docs/webhooks.md
// (the code users paste), for tests and the webhook benchmark.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type Verify = (secret: string | Buffer, headers: Record<string, string>, body: string, now?: number) => unknown;

/** The verification snippet from docs/webhooks.md, loaded as a module. */
export async function documentedVerify(): Promise<Verify> {
  const doc = readFileSync(new URL('../../docs/webhooks.md', import.meta.url), 'utf8');
  const m = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(doc);
  if (!m) throw new Error('docs/webhooks.md lost its verification snippet');
  const file = join(mkdtempSync(join(tmpdir(), 'vstream-snippet-')), 'verify.mjs');
  writeFileSync(file, m[1]!);
  return ((await import(pathToFileURL(file).href)) as { verifyVstreamWebhook: Verify }).verifyVstreamWebhook;
}

export interface Received {
  at: number;
  path: string;
  id: string;
  type: string;
  subject: string;
  data: Record<string, string>;
  /** The status this receiver answered. */
  answered: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests whose signature (or timestamp) did not verify. */
  rejected: { path: string; error: string }[];
  /** Answers for the next requests to a path (then 204). */
  failNext(path: string, statuses: number[]): void;
  close(): Promise<void>;
}

export async function startReceiver(secret: string): Promise<Receiver> {
  const verify = await documentedVerify();
  const received: Received[] = [];
  const rejected: Receiver['rejected'] = [];
  const planned = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        const ev = verify(secret, flat(req.headers), body) as Omit<Received, 'at' | 'path' | 'answered'>;
        const answered = planned.get(path)?.shift() ?? 204;
        received.push({ at, path, id: ev.id, type: ev.type, subject: ev.subject, data: ev.data, answered });
        res.writeHead(answered).end();
      } catch (e) {
        rejected.push({ path, error: (e as Error).message });
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    rejected,
    failNext: (path, statuses) => planned.set(path, [...statuses]),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const flat = (h: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
