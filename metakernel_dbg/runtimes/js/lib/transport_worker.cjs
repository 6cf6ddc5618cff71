'use strict';
/**
 * The I/O thread of a JS child's call plane (a worker_thread).
 *
 * JS code runs on one thread and a `call()` must block it, so the sockets live here: the
 * ZMQ DEALER to the meta-kernel's router (zeromq@6 is async-only) and the direct lines
 * (Unix stream sockets, cut into messages here). This thread only moves bytes. Every event
 * for the main thread is posted on its MessagePort and then announced by bumping a shared
 * counter + Atomics.notify, so the main thread can sleep in Atomics.wait and read events
 * with receiveMessageOnPort.
 *
 * Commands (main -> here), objects with `op`:
 *   connect {address, identity}   DEALER connect to the router
 *   send {frames}                 one message to the router
 *   listen {path}                 accept direct callers on a Unix socket
 *   link {line, path, data}       open a direct line to a callee, write data first
 *   write {line, data}            bytes on a direct line
 *   close_line {line}
 * Events (here -> main), objects with `ev`:
 *   ready, router {frames}, listening {path} | listen_failed {message},
 *   accepted {line, fd}, line {line, frames}, linked {line, fd} | link_failed {line, message},
 *   eof {line}, fatal {message}
 * It also ends the process once its parent (the meta-kernel) is gone.
 */

const { workerData } = require('node:worker_threads');
const net = require('node:net');
const { dieWithMetaKernel } = require('./lifetime.cjs');
const { StreamCutter } = require('./wire.cjs');

const zmq = require(workerData.zeromq);
const port = workerData.port;
const signal = new Int32Array(workerData.signal);
const maxMessage = workerData.maxMessage;

function post(event) {
  port.postMessage(event);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

let dealer = null;
const outbox = [];
let sending = false;
const lines = new Map(); // line id -> net.Socket
let nextAccepted = -1; // accepted lines count down, links (numbered by the main thread) up

async function pumpOutbox() {
  if (sending) return;
  sending = true;
  try {
    while (outbox.length) await dealer.send(outbox.shift());
  } catch (err) {
    post({ ev: 'fatal', message: `router send failed: ${err.message}` });
  } finally {
    sending = false;
  }
}

async function receiveLoop() {
  try {
    for await (const frames of dealer) post({ ev: 'router', frames });
  } catch (err) {
    if (!dealer.closed) post({ ev: 'fatal', message: `router receive failed: ${err.message}` });
  }
}

/** The socket's file descriptor: the main thread writes small messages on it directly. */
function fdOf(sock) {
  const fd = sock._handle && sock._handle.fd;
  return Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

function attach(line, sock) {
  lines.set(line, sock);
  const cutter = new StreamCutter(maxMessage);
  sock.on('data', (chunk) => {
    let messages;
    try {
      messages = cutter.push(chunk);
    } catch {
      sock.destroy(); // over the size limit: the line is dropped, as in Python
      return;
    }
    for (const frames of messages) post({ ev: 'line', line, frames });
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    if (lines.get(line) === sock) {
      lines.delete(line);
      post({ ev: 'eof', line });
    }
  });
}

const commands = {
  connect({ address, identity }) {
    dealer = new zmq.Dealer({ routingId: identity, linger: 0 });
    dealer.connect(address);
    receiveLoop();
  },
  send({ frames }) {
    outbox.push(frames);
    pumpOutbox();
  },
  listen({ path }) {
    const server = net.createServer((sock) => {
      const line = nextAccepted--;
      attach(line, sock);
      post({ ev: 'accepted', line, fd: fdOf(sock) });
    });
    server.on('error', (err) => post({ ev: 'listen_failed', message: err.message }));
    // the socket's directory is the router's private (0700) one, like the Python runtime's
    server.listen(path, () => post({ ev: 'listening', path }));
  },
  link({ line, path, data }) {
    const sock = net.createConnection(path);
    let connected = false;
    sock.once('connect', () => {
      connected = true;
      // 'linked' only once our first message (the caller's id) is in the kernel: from
      // then on the main thread may write on the fd itself, and must come after it
      sock.write(data, () => post({ ev: 'linked', line, fd: fdOf(sock) }));
    });
    sock.once('error', (err) => {
      if (!connected) post({ ev: 'link_failed', line, message: err.message });
    });
    attach(line, sock);
  },
  write({ line, data }) {
    const sock = lines.get(line);
    if (sock) sock.write(data);
    else post({ ev: 'eof', line });
  },
  close_line({ line }) {
    const sock = lines.get(line);
    if (sock) {
      lines.delete(line);
      sock.destroy();
    }
  },
};

port.on('message', (cmd) => {
  try {
    commands[cmd.op](cmd);
  } catch (err) {
    post({ ev: 'fatal', message: `${cmd.op}: ${err.message}` });
  }
});
// a child must not outlive a meta-kernel killed without cleaning up (the main thread may
// be busy in a long synchronous serve cell: this thread watches)
if (workerData.metaPid !== null) dieWithMetaKernel(workerData.metaPid);
post({ ev: 'ready' });
