'use strict';
// Runs one function file of the example library for tests/test_example_functions.py (no
// kernels): `node js_example_runner.cjs FILE NAME`, the arguments as one JSON line on
// stdin. `call(name, ...args)` asks the Python side synchronously ({"call", "args"} out,
// {"value"} or {"error": {name, message}} in); the outcome is {"return"} or {"raise"}.
const fs = require('node:fs');
const vm = require('node:vm');

const [file, name] = process.argv.slice(2);
let pending = '';

function readLine() {
  const buf = Buffer.alloc(65536);
  while (!pending.includes('\n')) {
    const n = fs.readSync(0, buf, 0, buf.length, null);
    if (n === 0) throw new Error('stdin closed');
    pending += buf.toString('utf8', 0, n);
  }
  const nl = pending.indexOf('\n');
  const line = pending.slice(0, nl);
  pending = pending.slice(nl + 1);
  return JSON.parse(line);
}

function send(msg) {
  fs.writeSync(1, `${JSON.stringify(msg)}\n`);
}

globalThis.call = (fn, ...args) => {
  send({ call: fn, args });
  const reply = readLine();
  if ('value' in reply) return reply.value;
  throw Object.assign(new Error(reply.error.message), reply.error);
};

vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
const fn = vm.runInThisContext(name);
const args = readLine();
try {
  send({ return: fn(...args) ?? null });
} catch (err) {
  const line = String(err.stack).split('\n').find((l) => l.includes(file)) || '';
  send({ raise: { name: err.name, message: err.message, where: err.where ?? line.trim() } });
}
