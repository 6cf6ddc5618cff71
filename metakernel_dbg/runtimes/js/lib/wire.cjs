'use strict';
/**
 * The call plane's wire format, as metakernel_dbg/callplane/wire.py defines it (JS twin).
 *
 * A message is one frame: HMAC-SHA256 signature (32 bytes) + header length (4 bytes, big
 * endian) + JSON header [+ a payload of at most 16 KiB]; a larger payload travels as a
 * second frame. The header carries the sender's counter `n` (strictly increasing, so a
 * captured message cannot be replayed) and, with a payload, its BLAKE2b-128 digest `pd`.
 * On a direct line (Unix stream socket) a message is prefixed by the lengths of its two
 * frames (`!II`). The signature covers the header's bytes, so key order and spacing of
 * the JSON never matter between the two languages.
 *
 * Node standard library only (plus the vendored BLAKE2b).
 */

// Buffer from the module, not the global: the global is a getter in Node's bootstrap code,
// and V8 stops in such implicitly called functions while stepping even when blackboxed
const { Buffer } = require('node:buffer');
const crypto = require('node:crypto');
const { blake2bHex } = require('./blake2b.cjs');

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
const SIG = 32;
const HEAD = SIG + 4;
/** payloads up to this size travel inside the header's frame */
const INLINE_PAYLOAD = 16 * 1024;
/** bytes of a call's arguments a trace span keeps */
const ARGS_PREVIEW = 4096;
/** key of a message's bulk payload (JSON bytes) */
const PAYLOAD = '$payload';

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data).digest();
}

/** Keys of a direct caller -> callee line: [call direction, return direction]. */
function linkKeys(calleeKey, callerId) {
  const pair = hmac(calleeKey, Buffer.from(`link:${callerId}`, 'utf8'));
  return [hmac(pair, Buffer.from('call')), hmac(pair, Buffer.from('back'))];
}

/** The payload digest: BLAKE2b-128, hex (Python: blake2b(p, digest_size=16).hexdigest()). */
function digest(payload) {
  return blake2bHex(payload, 16);
}

function sameText(a, b) {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function asBuffer(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Signs outgoing and verifies incoming messages for one peer (one key, two counters).
 * Same rules as wire.Channel: unpack() returns null for anything forged, replayed or
 * malformed.
 */
class Channel {
  constructor(key, { verifyPayload = true, recvKey = null } = {}) {
    this._key = Buffer.from(key);
    this._recvKey = Buffer.from(recvKey || key);
    this._sent = 0;
    this._seen = 0;
    this._verifyPayload = verifyPayload;
  }

  /** The counter the next packed message will carry (to name it before it is sent). */
  get nextNumber() {
    return this._sent + 1;
  }

  /** Serialise and sign; the message object is changed (`n`, `pd` set, payload removed). */
  pack(msg) {
    const payload = msg[PAYLOAD] == null ? null : asBuffer(msg[PAYLOAD]);
    delete msg[PAYLOAD];
    if (payload !== null && !('pd' in msg)) msg.pd = digest(payload);
    this._sent += 1;
    msg.n = this._sent;
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    const head = Buffer.allocUnsafe(HEAD);
    hmac(this._key, body).copy(head, 0);
    head.writeUInt32BE(body.length, SIG);
    if (payload === null) return [Buffer.concat([head, body])];
    if (payload.length <= INLINE_PAYLOAD) return [Buffer.concat([head, body, payload])];
    return [Buffer.concat([head, body]), payload];
  }

  /** Verify and decode one message (an array of 1 or 2 frames); null if not genuine. */
  unpack(frames) {
    if (!Array.isArray(frames) || (frames.length !== 1 && frames.length !== 2)) return null;
    const frame = asBuffer(frames[0]);
    if (frame.length < HEAD) return null;
    const size = frame.readUInt32BE(SIG);
    const body = frame.subarray(HEAD, HEAD + size);
    if (body.length !== size) return null;
    if (!crypto.timingSafeEqual(frame.subarray(0, SIG), hmac(this._recvKey, body))) return null;
    let msg;
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch {
      return null;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return null;
    const n = msg.n;
    if (!Number.isSafeInteger(n) || n <= this._seen) return null;
    const inline = frame.subarray(HEAD + size);
    let payload = null;
    if (frames.length === 2) payload = asBuffer(frames[1]);
    else if (inline.length) payload = inline;
    if (payload !== null) {
      if (typeof msg.pd !== 'string') return null;
      if (this._verifyPayload && !sameText(msg.pd, digest(payload))) return null;
      msg[PAYLOAD] = payload;
    }
    this._seen = n;
    return msg;
  }
}

/** One message on a direct line: `!II` (the lengths of its two frames), then the frames. */
function frameMessage(frames) {
  const second = frames.length === 2 ? frames[1] : null;
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(frames[0].length, 0);
  head.writeUInt32BE(second ? second.length : 0, 4);
  return Buffer.concat(second ? [head, frames[0], second] : [head, frames[0]]);
}

/**
 * Cuts a direct line's byte stream back into messages (arrays of 1 or 2 Buffers).
 * push(chunk) returns the messages completed by it; RangeError over the size limit.
 */
class StreamCutter {
  constructor(maxMessage = DEFAULT_MAX_MESSAGE) {
    this._max = maxMessage;
    this._chunks = [];
    this._have = 0;
  }

  push(chunk) {
    this._chunks.push(chunk);
    this._have += chunk.length;
    const out = [];
    while (this._have >= 8) {
      const head = this._peek(8);
      const first = head.readUInt32BE(0);
      const second = head.readUInt32BE(4);
      if (first + second > this._max) {
        throw new RangeError(`message of ${first + second} bytes is over the limit`);
      }
      if (this._have < 8 + first + second) break;
      this._take(8);
      const frame = this._take(first);
      out.push(second ? [frame, this._take(second)] : [frame]);
    }
    return out;
  }

  _peek(size) {
    if (this._chunks[0].length < size) this._chunks = [Buffer.concat(this._chunks)];
    return this._chunks[0].subarray(0, size);
  }

  _take(size) {
    this._have -= size;
    const first = this._chunks[0];
    if (size === 0) return Buffer.alloc(0);
    if (first.length >= size) {
      if (first.length === size) this._chunks.shift();
      else this._chunks[0] = first.subarray(size);
      return first.subarray(0, size);
    }
    const parts = [];
    let got = 0;
    while (got < size) {
      const chunk = this._chunks.shift();
      const need = size - got;
      if (chunk.length > need) {
        parts.push(chunk.subarray(0, need));
        this._chunks.unshift(chunk.subarray(need));
        got += need;
      } else {
        parts.push(chunk);
        got += chunk.length;
      }
    }
    return Buffer.concat(parts, size);
  }
}

module.exports = {
  DEFAULT_MAX_MESSAGE,
  INLINE_PAYLOAD,
  ARGS_PREVIEW,
  PAYLOAD,
  linkKeys,
  digest,
  Channel,
  frameMessage,
  StreamCutter,
};
