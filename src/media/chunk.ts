// The RTMP chunk stream: messages are cut into chunks of at most `chunkSize` bytes, each with a basic header
// (format 0-3 and the chunk stream id) and a message header that repeats less the more it shares with the previous
// message on that chunk stream. The decoder takes bytes as they arrive from the socket and returns whole messages;
// the encoder writes every message with a full (format 0) header and format-3 continuations: a few bytes more per
// message, in exchange for an encoder without state that any server reads.

export interface RtmpMessage {
  /** Message type id: 1 set chunk size, 3 ack, 4 user control, 5 window ack size, 6 peer bandwidth,
   * 8 audio, 9 video, 18 data (AMF0), 20 command (AMF0). */
  type: number;
  /** Milliseconds. */
  timestamp: number;
  streamId: number;
  /** Chunk stream the message arrived on (decoder) or goes out on (encoder). */
  csid: number;
  body: Buffer;
}

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Ack: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  CommandAmf3: 17,
  Data: 18,
  Command: 20,
} as const;

const EXTENDED = 0xffffff;
/** A larger message is refused: no audio or video frame comes near it, and it bounds what a peer makes us buffer. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 2 || csid > 65599) throw new Error(`RTMP: chunk stream id ${csid} out of range`);
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  const v = csid - 64;
  return Buffer.from([(fmt << 6) | 1, v & 0xff, v >> 8]);
}

/** One message as chunks: a format-0 chunk, then format-3 chunks of at most chunkSize bytes each. */
export function encodeMessage(m: RtmpMessage, chunkSize: number): Buffer {
  const ts = m.timestamp >>> 0;
  const ext = ts >= EXTENDED;
  const head = Buffer.alloc(11 + (ext ? 4 : 0));
  head.writeUIntBE(ext ? EXTENDED : ts, 0, 3);
  head.writeUIntBE(m.body.length, 3, 3);
  head[6] = m.type;
  head.writeUInt32LE(m.streamId >>> 0, 7);
  if (ext) head.writeUInt32BE(ts, 11);
  const parts: Buffer[] = [basicHeader(0, m.csid), head];
  const cont = ext
    ? Buffer.concat([
        basicHeader(3, m.csid),
        Buffer.from([ts >>> 24, (ts >>> 16) & 0xff, (ts >>> 8) & 0xff, ts & 0xff]),
      ])
    : basicHeader(3, m.csid);
  for (let pos = 0; pos < m.body.length || pos === 0; pos += chunkSize) {
    if (pos > 0) parts.push(cont);
    parts.push(m.body.subarray(pos, pos + chunkSize));
    if (m.body.length === 0) break;
  }
  return Buffer.concat(parts);
}

interface StreamState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  /** Fragments of the message being assembled, and how many bytes they hold. */
  parts: Buffer[];
  received: number;
  started: boolean;
}

/** Reassembles messages from chunks; keeps partial input between calls to push(). */
export class ChunkDecoder {
  chunkSize = 128;
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, StreamState>();

  /** Feeds bytes; returns every message completed by them. Throws on a malformed stream (the caller closes it). */
  push(data: Buffer): RtmpMessage[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: RtmpMessage[] = [];
    for (;;) {
      const consumed = this.readChunk(out);
      if (consumed === 0) break;
      this.buf = this.buf.subarray(consumed);
    }
    return out;
  }

  /** Reads one chunk from the buffer; returns the bytes it took, 0 when the chunk is not all there yet. */
  private readChunk(out: RtmpMessage[]): number {
    const b = this.buf;
    if (b.length < 1) return 0;
    const fmt = b[0]! >> 6;
    let csid = b[0]! & 0x3f;
    let p = 1;
    if (csid === 0) {
      if (b.length < 2) return 0;
      csid = 64 + b[1]!;
      p = 2;
    } else if (csid === 1) {
      if (b.length < 3) return 0;
      csid = 64 + b[1]! + b[2]! * 256;
      p = 3;
    }
    const headerLen = [11, 7, 3, 0][fmt]!;
    if (b.length < p + headerLen) return 0;
    let s = this.streams.get(csid);
    if (!s) {
      if (fmt !== 0) throw new Error(`RTMP: format ${fmt} chunk on new chunk stream ${csid}`);
      s = {
        timestamp: 0,
        delta: 0,
        length: 0,
        type: 0,
        streamId: 0,
        extended: false,
        parts: [],
        received: 0,
        started: false,
      };
    }
    const continuing = s.received > 0;
    if (continuing && fmt !== 3) throw new Error(`RTMP: format ${fmt} chunk inside a message on chunk stream ${csid}`);
    let tsField = 0;
    let length = s.length;
    let type = s.type;
    let streamId = s.streamId;
    if (fmt <= 2) tsField = b.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = b.readUIntBE(p + 3, 3);
      type = b[p + 6]!;
    }
    if (fmt === 0) streamId = b.readUInt32LE(p + 7);
    p += headerLen;
    const extended = fmt === 3 ? s.extended : tsField === EXTENDED;
    if (extended) {
      if (b.length < p + 4) return 0;
      tsField = b.readUInt32BE(p);
      p += 4;
    }
    if (length > MAX_MESSAGE_BYTES) throw new Error(`RTMP: message of ${length} bytes is too large`);
    const take = Math.min(this.chunkSize, length - (continuing ? s.received : 0));
    if (b.length < p + take) return 0;

    // The whole chunk is there: commit the header state.
    if (!continuing) {
      if (fmt === 0) {
        s.timestamp = tsField;
        s.delta = 0;
      } else if (fmt === 1 || fmt === 2) {
        s.delta = tsField;
        s.timestamp = (s.timestamp + tsField) >>> 0;
      } else {
        if (!s.started) throw new Error(`RTMP: format 3 chunk without a previous header on chunk stream ${csid}`);
        s.timestamp = (s.timestamp + s.delta) >>> 0;
      }
      s.length = length;
      s.type = type;
      s.streamId = streamId;
      s.extended = extended;
      s.started = true;
    }
    this.streams.set(csid, s);
    const payload = b.subarray(p, p + take);
    s.parts.push(Buffer.from(payload));
    s.received += take;
    if (s.received >= s.length) {
      const body = s.parts.length === 1 ? s.parts[0]! : Buffer.concat(s.parts, s.received);
      s.parts = [];
      s.received = 0;
      out.push({ type: s.type, timestamp: s.timestamp, streamId: s.streamId, csid, body });
      if (s.type === MessageType.SetChunkSize && body.length >= 4) {
        const size = body.readUInt32BE(0) & 0x7fffffff;
        if (size < 1 || size > MAX_MESSAGE_BYTES) throw new Error(`RTMP: chunk size ${size} out of range`);
        this.chunkSize = size;
      }
    }
    return p + take;
  }
}
