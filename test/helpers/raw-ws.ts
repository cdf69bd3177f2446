/**
 * A raw WebSocket peer over `net`: the HTTP upgrade done by hand and frames
 * built byte by byte, so tests can send what no well-behaved client would
 * (unmasked frames, reserved bits and opcodes, invalid UTF-8, lying
 * lengths, fragment floods) and read exactly what the server sends back.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const Opcode = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** The three reserved bits, 0..7. */
  rsv?: number;
  /** Clients must mask; false sends an unmasked frame. */
  mask?: boolean;
}

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

export interface CloseInfo {
  /** From the close frame, or 1006 when the TCP connection ended without one. */
  code: number;
  reason: string;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const masked = spec.mask ?? true;
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + (masked ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  header[1] = (masked ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) header.writeUInt16BE(len, 2);
  if (lenBytes === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  key.copy(header, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([header, body]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const buf = Buffer.alloc(2 + Buffer.byteLength(reason));
  buf.writeUInt16BE(code, 0);
  buf.write(reason, 2);
  return buf;
}

export interface RawPeer {
  socket: Socket;
  /** HTTP status of the upgrade response (101 when accepted). */
  status: number;
  /** The response head, lower-cased header names. */
  headers: Record<string, string>;
  /** Server frames received so far (after the upgrade). */
  frames: Frame[];
  /**
   * Keep and parse data frames (default). Set false before draining
   * megabytes that only matter for the close frame at their end.
   */
  collect: boolean;
  /** Resolves once the server's close frame arrives, or the TCP connection ends. */
  closed: Promise<CloseInfo>;
  /** Resolves when the TCP connection is fully closed. */
  ended: Promise<void>;
  send(spec: FrameSpec | Buffer): void;
  /** Resolve with the first text frame parsed as JSON that matches. */
  nextJson(match?: (message: any) => boolean, timeoutMs?: number): Promise<any>;
  destroy(): void;
}

export interface RawUpgradeOptions {
  headers?: Record<string, string>;
  /** Extra raw header lines, for headers that repeat. */
  rawHeaderLines?: string[];
  localAddress?: string;
  /** Keep our side open after the server's FIN (a peer that never finishes the TCP close). */
  allowHalfOpen?: boolean;
}

/** Open a TCP connection and perform the WebSocket upgrade by hand. */
export function rawUpgrade(port: number, path: string, options: RawUpgradeOptions = {}): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: '127.0.0.1',
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.allowHalfOpen ? { allowHalfOpen: true } : {}),
    });
    socket.setNoDelay(true);
    const headers: Record<string, string> = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      ...options.headers,
    };
    const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), ...(options.rawHeaderLines ?? [])];
    let head: Buffer = Buffer.alloc(0);
    let peer: RawPeer | undefined;
    let buffered: Buffer = Buffer.alloc(0);
    const frames: Frame[] = [];
    const waiters: { match: (m: any) => boolean; resolve: (m: any) => void }[] = [];
    let cursor = 0;
    let resolveClosed!: (info: CloseInfo) => void;
    const closed = new Promise<CloseInfo>((r) => (resolveClosed = r));
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.once('close', () => {
      resolveClosed({ code: 1006, reason: '' });
      if (peer === undefined) reject(new Error('connection closed before the upgrade response'));
    });

    const onFrames = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const frame = parseFrame(buffered);
        if (frame === undefined) return;
        buffered = buffered.subarray(frame.size);
        if (frame.frame.opcode !== Opcode.CLOSE && !peer!.collect) continue;
        frames.push(frame.frame);
        if (frame.frame.opcode === Opcode.CLOSE) {
          const p = frame.frame.payload;
          resolveClosed({ code: p.length >= 2 ? p.readUInt16BE(0) : 1005, reason: p.subarray(2).toString() });
        } else if (frame.frame.opcode === Opcode.TEXT) {
          let message: any;
          try {
            message = JSON.parse(frame.frame.payload.toString());
          } catch {
            continue;
          }
          for (const w of [...waiters]) {
            if (w.match(message)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(message);
            }
          }
        }
      }
    };

    socket.on('data', function onHead(chunk: Buffer) {
      if (peer !== undefined) return onFrames(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [statusLine, ...headerLines] = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
      const responseHeaders: Record<string, string> = {};
      for (const line of headerLines) {
        const i = line.indexOf(':');
        if (i > 0) responseHeaders[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      peer = {
        socket,
        status,
        headers: responseHeaders,
        frames,
        collect: true,
        closed,
        ended,
        send(spec) {
          socket.write(Buffer.isBuffer(spec) ? spec : encodeFrame(spec));
        },
        nextJson(match = () => true, timeoutMs = 5000) {
          for (; cursor < frames.length; cursor++) {
            const f = frames[cursor]!;
            if (f.opcode !== Opcode.TEXT) continue;
            try {
              const m = JSON.parse(f.payload.toString());
              if (match(m)) {
                cursor++;
                return Promise.resolve(m);
              }
            } catch {
              // not JSON
            }
          }
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('timed out waiting for a frame')), timeoutMs);
            waiters.push({
              match,
              resolve: (m) => {
                clearTimeout(timer);
                cursor = frames.length;
                res(m);
              },
            });
          });
        },
        destroy() {
          socket.destroy();
        },
      };
      resolve(peer);
      const rest = head.subarray(end + 4);
      if (status === 101 && rest.length > 0) onFrames(rest);
    });
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

function parseFrame(buf: Buffer): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let len = b1 & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buf[maskOffset + (i & 3)]!;
  return { frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, payload }, size: offset + len };
}
