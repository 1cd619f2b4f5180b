// Thumbnails, the half that needs no decoder: play the stream from the pod's MediaMTX over RTMP on loopback,
// keep the H.264 decoder configuration, and once per interval write the next keyframe as a tiny FLV file (header,
// sequence header, one keyframe). The thumbnail container's ffmpeg decodes that one frame to a JPEG: it never touches
// the network, and decodes one frame per interval instead of the whole stream.
import { renameSync, writeFileSync } from 'node:fs';
import { MessageType, type RtmpMessage } from './chunk.ts';
import { type Endpoint, RtmpConnection, RtmpError } from './client.ts';

/** Retry delay: 1 s doubling to 60 s, ±20 % jitter. */
export function backoffMs(attempt: number, rand = Math.random): number {
  const base = Math.min(60_000, 1_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * rand()));
}

const AVC = 7;

/** A legacy (non-enhanced) FLV video tag's kind: the AVC sequence header, an AVC keyframe, or neither. */
export function videoKind(body: Buffer): 'config' | 'keyframe' | undefined {
  if (body.length < 2 || body[0]! & 0x80) return undefined; // enhanced RTMP (HEVC, AV1): not for ffmpeg 5.1's FLV
  if ((body[0]! & 0x0f) !== AVC) return undefined;
  if (body[1] === 0) return 'config';
  return body[0]! >> 4 === 1 && body[1] === 1 ? 'keyframe' : undefined;
}

function flvTag(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(11);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  // timestamp 0 and stream id 0
  const size = Buffer.alloc(4);
  size.writeUInt32BE(11 + body.length);
  return Buffer.concat([h, body, size]);
}

/** An FLV file of one video stream: the decoder configuration, then one keyframe. */
export function keyframeFlv(config: Buffer, keyframe: Buffer): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]);
  return Buffer.concat([header, flvTag(MessageType.Video, config), flvTag(MessageType.Video, keyframe)]);
}

export class KeyframeWriter {
  private stopped = false;
  private conn?: RtmpConnection;
  private wake?: () => void;
  private attempt = 0;
  /** Keyframe files written, and the last reason a session ended (for logs). */
  written = 0;
  private readonly opts: {
    endpoint: Endpoint;
    playName: () => string;
    live: () => boolean;
    file: string;
    intervalMs: number;
    onError: (reason: string) => void;
    tls?: import('node:tls').ConnectionOptions;
  };

  constructor(opts: KeyframeWriter['opts']) {
    this.opts = opts;
  }

  poke() {
    this.wake?.();
  }

  private sleep(ms: number) {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.opts.live()) {
        this.attempt = 0;
        await this.sleep(60_000);
        continue;
      }
      try {
        const reason = await this.session();
        if (this.stopped) break;
        if (this.opts.live()) this.opts.onError(reason);
      } catch (e) {
        if (this.stopped) break;
        if (this.opts.live()) this.opts.onError(e instanceof RtmpError ? e.message : String(e));
      }
      this.attempt++;
      await this.sleep(backoffMs(this.attempt));
    }
  }

  private async session(): Promise<string> {
    const c = await RtmpConnection.open(this.opts.endpoint, this.opts.tls ? { tls: this.opts.tls } : {});
    this.conn = c;
    let config: Buffer | undefined;
    let due = 0;
    const ended = new Promise<string>((resolve) => c.once('close', (r: string) => resolve(r)));
    c.on('media', (m: RtmpMessage) => {
      if (m.type !== MessageType.Video) return;
      const kind = videoKind(m.body);
      if (kind === 'config') config = Buffer.from(m.body);
      else if (kind === 'keyframe' && config && Date.now() >= due) {
        due = Date.now() + this.opts.intervalMs;
        const tmp = `${this.opts.file}.tmp`;
        writeFileSync(tmp, keyframeFlv(config, m.body));
        renameSync(tmp, this.opts.file);
        this.written++;
        this.attempt = 0;
      }
    });
    try {
      await c.play(this.opts.playName());
      return await ended;
    } finally {
      c.close('done');
      this.conn = undefined;
    }
  }

  stop() {
    this.stopped = true;
    this.conn?.close('stopped');
    this.wake?.();
  }
}
