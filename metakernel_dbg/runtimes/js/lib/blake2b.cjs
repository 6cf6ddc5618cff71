'use strict';
/**
 * BLAKE2b (RFC 7693), unkeyed, any digest size 1..64: the call plane's payload digest
 * (Python: hashlib.blake2b(payload, digest_size=16)). Node 20's crypto has only
 * blake2b512 ("Invalid XOF digest length" for shorter outputs), and BLAKE2b-128 is not a
 * truncated BLAKE2b-512 (the digest size is part of the parameter block), so it is
 * computed here.
 *
 * Structure after blakejs (MIT, Copyright (c) 2017 DC): 64-bit words as (low, high)
 * pairs of 32-bit unsigned integers, no BigInt on the hot path.
 */

const { Buffer } = require('node:buffer');

const IV32 = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

// message word schedule; rounds 10 and 11 repeat rounds 0 and 1. Pre-doubled: indexes
// into the (low, high) pair array.
const SIGMA = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
].map((x) => x * 2);

const v = new Uint32Array(32); // working vector
const m = new Uint32Array(32); // message block

/** v[a] += v[b] (64-bit) */
function add64vv(a, b) {
  const lo = v[a] + v[b];
  let hi = v[a + 1] + v[b + 1];
  if (lo >= 0x100000000) hi++;
  v[a] = lo;
  v[a + 1] = hi;
}

/** v[a] += m[i] (64-bit) */
function add64vm(a, i) {
  const lo = v[a] + m[i];
  let hi = v[a + 1] + m[i + 1];
  if (lo >= 0x100000000) hi++;
  v[a] = lo;
  v[a + 1] = hi;
}

/** The mixing function G on words a, b, c, d (pair indexes) with message words x, y. */
function G(a, b, c, d, x, y) {
  add64vv(a, b);
  add64vm(a, x);
  // d = rotr64(d ^ a, 32): swap halves
  let xlo = v[d] ^ v[a];
  let xhi = v[d + 1] ^ v[a + 1];
  v[d] = xhi;
  v[d + 1] = xlo;
  add64vv(c, d);
  // b = rotr64(b ^ c, 24)
  xlo = v[b] ^ v[c];
  xhi = v[b + 1] ^ v[c + 1];
  v[b] = (xlo >>> 24) ^ (xhi << 8);
  v[b + 1] = (xhi >>> 24) ^ (xlo << 8);
  add64vv(a, b);
  add64vm(a, y);
  // d = rotr64(d ^ a, 16)
  xlo = v[d] ^ v[a];
  xhi = v[d + 1] ^ v[a + 1];
  v[d] = (xlo >>> 16) ^ (xhi << 16);
  v[d + 1] = (xhi >>> 16) ^ (xlo << 16);
  add64vv(c, d);
  // b = rotr64(b ^ c, 63) = rotl64(b ^ c, 1)
  xlo = v[b] ^ v[c];
  xhi = v[b + 1] ^ v[c + 1];
  v[b] = (xhi >>> 31) ^ (xlo << 1);
  v[b + 1] = (xlo >>> 31) ^ (xhi << 1);
}

/** Compress one 128-byte block at `data[offset]` into state h; t: bytes so far. */
function compress(h, data, offset, t, last) {
  for (let i = 0; i < 32; i++) {
    const j = offset + i * 4;
    m[i] = data[j] ^ (data[j + 1] << 8) ^ (data[j + 2] << 16) ^ (data[j + 3] << 24);
  }
  for (let i = 0; i < 16; i++) {
    v[i] = h[i];
    v[i + 16] = IV32[i];
  }
  v[24] ^= t >>> 0; // t mod 2^32 (t < 2^53)
  v[25] ^= Math.floor(t / 0x100000000);
  if (last) {
    v[28] = ~v[28];
    v[29] = ~v[29];
  }
  for (let r = 0; r < 12; r++) {
    const s = r * 16;
    G(0, 8, 16, 24, SIGMA[s], SIGMA[s + 1]);
    G(2, 10, 18, 26, SIGMA[s + 2], SIGMA[s + 3]);
    G(4, 12, 20, 28, SIGMA[s + 4], SIGMA[s + 5]);
    G(6, 14, 22, 30, SIGMA[s + 6], SIGMA[s + 7]);
    G(0, 10, 20, 30, SIGMA[s + 8], SIGMA[s + 9]);
    G(2, 12, 22, 24, SIGMA[s + 10], SIGMA[s + 11]);
    G(4, 14, 16, 26, SIGMA[s + 12], SIGMA[s + 13]);
    G(6, 8, 18, 28, SIGMA[s + 14], SIGMA[s + 15]);
  }
  for (let i = 0; i < 16; i++) h[i] = h[i] ^ v[i] ^ v[i + 16];
}

const BLOCK = 128;
const tail = new Uint8Array(BLOCK);

/**
 * BLAKE2b of `data` (Uint8Array / Buffer) with an `outlen`-byte digest (default 64).
 * @returns {Uint8Array}
 */
function blake2b(data, outlen = 64) {
  if (!(Number.isInteger(outlen) && outlen >= 1 && outlen <= 64)) {
    throw new RangeError('blake2b digest size must be 1..64 bytes');
  }
  const h = new Uint32Array(IV32.subarray(0, 16));
  h[0] ^= 0x01010000 ^ outlen; // parameter block: digest size, no key, fanout 1, depth 1
  // one element kind for compress() (a Buffer and the Uint8Array tail would make it
  // polymorphic, several times slower)
  data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const n = data.length;
  let offset = 0;
  while (n - offset > BLOCK) {
    compress(h, data, offset, offset + BLOCK, false);
    offset += BLOCK;
  }
  tail.fill(0);
  tail.set(data.subarray(offset, n));
  compress(h, tail, 0, n, true);
  const out = new Uint8Array(outlen);
  for (let i = 0; i < outlen; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
  return out;
}

/** Hex digest, like Python's hashlib.blake2b(data, digest_size=outlen).hexdigest(). */
function blake2bHex(data, outlen = 64) {
  return Buffer.from(blake2b(data, outlen)).toString('hex');
}

module.exports = { blake2b, blake2bHex };
