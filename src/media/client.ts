// A small RTMP client that plays: the simple handshake, connect, createStream, play. Enough to read the stream from
// the pod's own MediaMTX with the pod-internal credential inside the RTMP play command, where no process argument
// list shows it (ffmpeg would need it in its input URL). No maintained Node.js RTMP client library exists on npm.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { type Amf0Value, decodeAmf0, encodeAmf0 } from './amf0.ts';
import { ChunkDecoder, encodeMessage, MessageType, type RtmpMessage } from './chunk.ts';

const HANDSHAKE_SIZE = 1536;
/** Our outgoing chunk size: large enough that most audio and many video frames fit in one chunk. */
export const OUT_CHUNK_SIZE = 4096;
const WINDOW_ACK_SIZE = 2_500_000;
const CSID = { control: 2, command: 3, audio: 4, data: 5, video: 6, stream: 8 } as const;

/** An RTMP error with a reason safe to show (built from host:port and status codes, never from a credential). */
export class RtmpError extends Error {}

export interface Endpoint {
  /** rtmp or rtmps. */
  secure: boolean;
  host: string;
  port: number;
  /** The application: the URL path before the stream name. */
  app: string;
  /** tcUrl as sent in connect (without the stream name or key). */
  tcUrl: string;
}

/** Splits an rtmp(s) server URL (rtmp://host[:port]/app[/more]) into what connect needs. */
export function parseServerUrl(url: string): Endpoint {
  const u = new URL(url);
  const secure = u.protocol === 'rtmps:';
  if (!secure && u.protocol !== 'rtmp:') throw new RtmpError(`unsupported scheme ${u.protocol}`);
  const app = decodeURIComponent(u.pathname.replace(/^\/+/, '').replace(/\/+$/, ''));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : secure ? 443 : 1935;
  return { secure, host, port, app, tcUrl: `${u.protocol}//${u.host}/${app}` };
}

export interface ConnectOptions {
  timeoutMs?: number;
  /** Extra TLS options (a test CA). */
  tls?: tls.ConnectionOptions;
  signal?: AbortSignal;
}

/** Where a command's answer is awaited: resolve with its values, reject with an RtmpError. */
interface Pending {
  resolve: (v: Amf0Value[]) => void;
  reject: (e: Error) => void;
}

/**
 * One RTMP connection. Events: 'media' (audio, video and data messages of the played stream), 'status'
 * (onStatus info objects), 'close' (with the reason, once).
 */
export class RtmpConnection extends EventEmitter {
  private readonly socket: net.Socket;
  private readonly decoder = new ChunkDecoder();
  private txn = 1;
  private readonly pending = new Map<number, Pending>();
  private received = 0;
  private ackedAt = 0;
  private peerWindow = WINDOW_ACK_SIZE;
  private closed = false;
  private statusWaiters: ((info: Record<string, Amf0Value>) => boolean)[] = [];
  bytesOut = 0;

  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    socket.setNoDelay(true);
  }

  /** Opens the connection, does the handshake and the connect command. */
  static async open(ep: Endpoint, opts: ConnectOptions = {}): Promise<RtmpConnection> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = ep.secure
        ? tls.connect({
            host: ep.host,
            port: ep.port,
            servername: net.isIP(ep.host) ? undefined : ep.host,
            ...opts.tls,
          })
        : net.connect({ host: ep.host, port: ep.port });
      const t = setTimeout(() => {
        s.destroy();
        reject(new RtmpError(`connect to ${ep.host}:${ep.port} timed out`));
      }, timeoutMs);
      s.once(ep.secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(
          new RtmpError(`cannot connect to ${ep.host}:${ep.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`),
        );
      });
    });
    const c = new RtmpConnection(socket);
    const abort = () => c.close('aborted');
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      await withTimeout(c.handshake(), timeoutMs, 'RTMP handshake timed out');
      c.start();
      c.send({
        type: MessageType.SetChunkSize,
        timestamp: 0,
        streamId: 0,
        csid: CSID.control,
        body: u32(OUT_CHUNK_SIZE),
      });
      await withTimeout(
        c.call('connect', {
          app: ep.app,
          type: 'nonprivate',
          flashVer: 'FMLE/3.0 (compatible; vstream)',
          tcUrl: ep.tcUrl,
        }),
        timeoutMs,
        'RTMP connect timed out',
      );
      return c;
    } catch (e) {
      c.close((e as Error).message);
      throw e;
    }
  }

  private async handshake(): Promise<void> {
    const c1 = Buffer.alloc(HANDSHAKE_SIZE);
    c1.writeUInt32BE(0, 0);
    randomBytes(HANDSHAKE_SIZE - 8).copy(c1, 8);
    this.socket.write(Buffer.concat([Buffer.from([3]), c1]));
    const s = await readExactly(this.socket, 1 + 2 * HANDSHAKE_SIZE);
    if (s[0] !== 3) throw new RtmpError(`unsupported RTMP version ${s[0]}`);
    const s1 = s.subarray(1, 1 + HANDSHAKE_SIZE);
    // C2 echoes S1 (the simple handshake); the rest of what we read is S2, which echoes C1.
    this.socket.write(s1);
    const rest = s.subarray(1 + 2 * HANDSHAKE_SIZE);
    if (rest.length) this.onData(rest);
  }

  private start() {
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e) => this.close(`connection error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    this.socket.on('close', () => this.close('connection closed by the server'));
  }

  private onData(d: Buffer) {
    if (this.closed) return;
    this.received += d.length;
    if (this.received - this.ackedAt >= this.peerWindow / 2) {
      this.ackedAt = this.received;
      this.send({
        type: MessageType.Ack,
        timestamp: 0,
        streamId: 0,
        csid: CSID.control,
        body: u32(this.received >>> 0),
      });
    }
    let msgs: RtmpMessage[];
    try {
      msgs = this.decoder.push(d);
    } catch (e) {
      this.close((e as Error).message);
      return;
    }
    for (const m of msgs) this.onMessage(m);
  }

  private onMessage(m: RtmpMessage) {
    switch (m.type) {
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.Data:
        this.emit('media', m);
        return;
      case MessageType.WindowAckSize:
        if (m.body.length >= 4) this.peerWindow = Math.max(1, m.body.readUInt32BE(0));
        return;
      case MessageType.UserControl:
        // Ping request (event 6): answer with a ping response (event 7) carrying the same timestamp.
        if (m.body.length >= 6 && m.body.readUInt16BE(0) === 6) {
          const body = Buffer.alloc(6);
          body.writeUInt16BE(7, 0);
          m.body.copy(body, 2, 2, 6);
          this.send({ type: MessageType.UserControl, timestamp: 0, streamId: 0, csid: CSID.control, body });
        }
        return;
      case MessageType.Command:
        this.onCommand(m);
        return;
      default:
        return;
    }
  }

  private onCommand(m: RtmpMessage) {
    let values: Amf0Value[];
    try {
      values = decodeAmf0(m.body);
    } catch {
      return;
    }
    const [name, txn] = values;
    if ((name === '_result' || name === '_error') && typeof txn === 'number') {
      const p = this.pending.get(txn);
      if (!p) return;
      this.pending.delete(txn);
      if (name === '_result') p.resolve(values.slice(2));
      else p.reject(new RtmpError(describe(values[3], 'the server refused the command')));
      return;
    }
    if (name === 'onStatus') {
      const info = values[3];
      if (info && typeof info === 'object' && !Array.isArray(info) && !(info instanceof Date)) {
        this.emit('status', info);
        this.statusWaiters = this.statusWaiters.filter((w) => !w(info));
      }
      return;
    }
    if (name === 'close') this.close('the server closed the session');
  }

  send(m: RtmpMessage) {
    if (this.closed) return;
    const b = encodeMessage(m, OUT_CHUNK_SIZE);
    this.bytesOut += b.length;
    this.socket.write(b);
  }

  /** Bytes queued in the socket and not yet sent: how far the peer is behind. */
  get backlog(): number {
    return this.socket.writableLength;
  }

  private command(csid: number, streamId: number, ...values: Amf0Value[]) {
    this.send({ type: MessageType.Command, timestamp: 0, streamId, csid, body: encodeAmf0(...values) });
  }

  /** A command with a transaction id; resolves with the _result's values after the id. */
  call(name: string, ...args: Amf0Value[]): Promise<Amf0Value[]> {
    const id = this.txn++;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new RtmpError('connection closed'));
      this.pending.set(id, { resolve, reject });
      this.command(CSID.command, 0, name, id, ...args);
    });
  }

  private async createStream(): Promise<number> {
    const r = await this.call('createStream', null);
    const id = r.find((v) => typeof v === 'number');
    if (typeof id !== 'number') throw new RtmpError('createStream returned no stream id');
    return id;
  }

  /** Waits for an onStatus whose code starts with `ok`; any error-level status rejects with its code. */
  private awaitStatus(ok: string, timeoutMs: number): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        const onClose = (reason: string) => reject(new RtmpError(reason));
        this.once('close', onClose);
        this.statusWaiters.push((info) => {
          const code = typeof info.code === 'string' ? info.code : '';
          if (code.startsWith(ok)) {
            this.off('close', onClose);
            resolve();
            return true;
          }
          if (info.level === 'error' || /Failed|BadName|Unauthorized|Rejected|NotFound/.test(code)) {
            this.off('close', onClose);
            // The code only: a description may echo the stream name, and with it the query's credential.
            reject(new RtmpError(`the server answered ${code || 'an error'}`));
            return true;
          }
          return false;
        });
      }),
      timeoutMs,
      `no ${ok} from the server`,
    );
  }

  /** Plays `name` (which may carry ?query credentials); media then arrives as 'media' events. */
  async play(name: string, timeoutMs = 10_000): Promise<void> {
    const id = await withTimeout(this.createStream(), timeoutMs, 'createStream timed out');
    const started = this.awaitStatus('NetStream.Play.Start', timeoutMs);
    this.command(CSID.stream, id, 'play', 0, null, name, -2);
    await started;
  }

  close(reason: string) {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new RtmpError(reason));
    this.pending.clear();
    this.socket.destroy();
    this.emit('close', reason);
  }

  get isClosed() {
    return this.closed;
  }
}

function describe(info: Amf0Value, fallback: string): string {
  if (info && typeof info === 'object' && !Array.isArray(info) && !(info instanceof Date)) {
    const code = info.code;
    if (typeof code === 'string' && code) return `the server answered ${code}`;
  }
  return fallback;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

function readExactly(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        cleanup();
        resolve(Buffer.concat(parts));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new RtmpError('connection closed during the handshake'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new RtmpError(`connection error during the handshake: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.on('close', onEnd);
    socket.on('error', onError);
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new RtmpError(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
