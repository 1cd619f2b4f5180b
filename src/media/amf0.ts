// AMF0 (Action Message Format 0), the encoding of RTMP commands and data messages: just the types RTMP servers
// send and expect (number, boolean, string, object, null, undefined, ECMA and strict arrays, date, long string).
// Objects come back as plain records; an ECMA array decodes like an object.

export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Value[]
  | { [key: string]: Amf0Value };

const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  Null: 0x05,
  Undefined: 0x06,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
} as const;

function utf8(s: string, long: boolean): Buffer {
  const b = Buffer.from(s, 'utf8');
  const head = Buffer.alloc(long ? 4 : 2);
  if (long) head.writeUInt32BE(b.length);
  else head.writeUInt16BE(b.length);
  return Buffer.concat([head, b]);
}

function encodeOne(v: Amf0Value, out: Buffer[]): void {
  if (v === null) out.push(Buffer.from([Marker.Null]));
  else if (v === undefined) out.push(Buffer.from([Marker.Undefined]));
  else if (typeof v === 'number') {
    const b = Buffer.alloc(9);
    b[0] = Marker.Number;
    b.writeDoubleBE(v, 1);
    out.push(b);
  } else if (typeof v === 'boolean') out.push(Buffer.from([Marker.Boolean, v ? 1 : 0]));
  else if (typeof v === 'string') {
    const long = Buffer.byteLength(v) > 0xffff;
    out.push(Buffer.from([long ? Marker.LongString : Marker.String]), utf8(v, long));
  } else if (v instanceof Date) {
    const b = Buffer.alloc(11);
    b[0] = Marker.Date;
    b.writeDoubleBE(v.getTime(), 1);
    out.push(b);
  } else if (Array.isArray(v)) {
    const b = Buffer.alloc(5);
    b[0] = Marker.StrictArray;
    b.writeUInt32BE(v.length, 1);
    out.push(b);
    for (const item of v) encodeOne(item, out);
  } else {
    out.push(Buffer.from([Marker.Object]));
    for (const [k, item] of Object.entries(v)) {
      out.push(utf8(k, false));
      encodeOne(item, out);
    }
    out.push(Buffer.from([0, 0, Marker.ObjectEnd]));
  }
}

/** Encodes values back to back, as a command message body carries them. */
export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const out: Buffer[] = [];
  for (const v of values) encodeOne(v, out);
  return Buffer.concat(out);
}

class Reader {
  pos = 0;
  private readonly b: Buffer;
  constructor(b: Buffer) {
    this.b = b;
  }
  need(n: number) {
    if (this.pos + n > this.b.length) throw new Error('AMF0: truncated value');
  }
  u8() {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16() {
    this.need(2);
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  f64() {
    this.need(8);
    const v = this.b.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  str(n: number) {
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  get done() {
    return this.pos >= this.b.length;
  }
}

const MAX_DEPTH = 32;

function readProps(r: Reader, depth: number): Record<string, Amf0Value> {
  const o: Record<string, Amf0Value> = {};
  for (;;) {
    const key = r.str(r.u16());
    if (key === '') {
      // The object-end marker follows an empty key; some encoders end ECMA arrays without it (end of body).
      if (r.done) return o;
      const m = r.u8();
      if (m === Marker.ObjectEnd) return o;
      throw new Error(`AMF0: expected object end, got marker ${m}`);
    }
    o[key] = readOne(r, depth + 1);
  }
}

function readOne(r: Reader, depth: number): Amf0Value {
  if (depth > MAX_DEPTH) throw new Error('AMF0: nested too deep');
  const m = r.u8();
  switch (m) {
    case Marker.Number:
      return r.f64();
    case Marker.Boolean:
      return r.u8() !== 0;
    case Marker.String:
      return r.str(r.u16());
    case Marker.LongString:
      return r.str(r.u32());
    case Marker.Object:
      return readProps(r, depth);
    case Marker.EcmaArray:
      r.u32(); // the count is a hint only: the properties end with the object-end marker
      return readProps(r, depth);
    case Marker.StrictArray: {
      const n = r.u32();
      const a: Amf0Value[] = [];
      for (let i = 0; i < n; i++) a.push(readOne(r, depth + 1));
      return a;
    }
    case Marker.Date: {
      const t = r.f64();
      r.u16(); // time zone: reserved, always 0
      return new Date(t);
    }
    case Marker.Null:
      return null;
    case Marker.Undefined:
      return undefined;
    default:
      throw new Error(`AMF0: unsupported marker ${m}`);
  }
}

/** Decodes every value of a message body. */
export function decodeAmf0(body: Buffer): Amf0Value[] {
  const r = new Reader(body);
  const out: Amf0Value[] = [];
  while (!r.done) out.push(readOne(r, 0));
  return out;
}
