'use strict';
// The JS runtime's pure parts for tests/test_js_wire.py: reads {"op", "args"} requests,
// one JSON per line on stdin, and answers {"ok": result} or {"error"} per line.
const { Buffer } = require('node:buffer');
const lib = process.argv[2];
const wire = require(lib + '/wire.cjs');
const values = require(lib + '/values.cjs');
const { blake2bHex } = require(lib + '/blake2b.cjs');
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Buffer.from(h, 'hex');
const channels = {};
const ops = {
  digest: (data, size) => blake2bHex(unhex(data), size),
  linkKeys: (key, caller) => wire.linkKeys(unhex(key), caller).map(hex),
  channel: (name, key, recvKey) => { channels[name] = new wire.Channel(unhex(key), { recvKey: recvKey && unhex(recvKey) }); return null; },
  pack: (name, msg, payload) => {
    if (payload !== null) msg[wire.PAYLOAD] = unhex(payload);
    return channels[name].pack(msg).map(hex);
  },
  unpack: (name, frames) => {
    const msg = channels[name].unpack(frames.map(unhex));
    if (msg && wire.PAYLOAD in msg) msg[wire.PAYLOAD] = hex(msg[wire.PAYLOAD]);
    return msg;
  },
  frame: (frames) => hex(wire.frameMessage(frames.map(unhex))),
  cut: (stream, chunk) => {
    const cutter = new wire.StreamCutter(1 << 20);
    const data = unhex(stream);
    const out = [];
    for (let i = 0; i < data.length; i += chunk) out.push(...cutter.push(data.subarray(i, i + chunk)));
    return out.map((frames) => frames.map(hex));
  },
  echo: (payload) => hex(values.encodeValue(values.decode(unhex(payload)), 'result')),
  describe: (payload) => {
    const show = (v) => v instanceof Map ? ['Map', [...v].map(([k, x]) => [show(k), show(x)])]
      : Array.isArray(v) ? v.map(show) : typeof v === 'number' && !Number.isFinite(v) ? String(v)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)])) : v;
    return show(values.decode(unhex(payload)));
  },
  refuse: (code) => {
    try {
      values.encodeCall([eval(code)], {}, 'call("f")');
      return null;
    } catch (err) {
      return err.message;
    }
  },
};
let buffer = '';
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const req = JSON.parse(buffer.slice(0, nl));
    buffer = buffer.slice(nl + 1);
    let out;
    try { out = { ok: ops[req.op](...req.args) }; } catch (err) { out = { error: String(err.stack) }; }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
});
