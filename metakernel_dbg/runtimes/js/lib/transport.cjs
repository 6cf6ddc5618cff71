'use strict';
/**
 * The main thread's end of the call plane: a worker thread owns the sockets
 * (transport_worker.cjs), the main thread signs, verifies and decides.
 *
 * `next(ms)` blocks the main thread in Atomics.wait for at most `ms` and returns the next
 * event, or null. Callers wait in short slices: V8 wakes Atomics.wait for interrupts (a
 * debugger's pause request, a SIGINT watchdog's termination), so a blocked JS caller stays
 * pausable and interruptible. While no JS runs (the kernel is idle between cells), events
 * reach `onIdle` through the event loop instead.
 *
 * The child side of the `local` transport (callplane/local.py): a DEALER on the router's
 * ipc:// socket, and this kernel's direct-line listener `d-<instance id>` beside it.
 */

const fs = require('node:fs');
const path = require('node:path');
const { Worker, MessageChannel, receiveMessageOnPort } = require('node:worker_threads');

const START_TIMEOUT_MS = 10000;
const GONE = new Set(['EPIPE', 'ECONNRESET', 'ENOTCONN', 'EBADF']);

class Transport {
  /** Connect to the router of `endpoint` (its `kind` must be "local") as `identity`; the
   * I/O thread ends the process once `metaPid` is no longer its parent. */
  constructor(endpoint, identity, maxMessage, metaPid) {
    if (endpoint.kind !== 'local') {
      throw new Error(`the JavaScript runtime has no child side for transport ${JSON.stringify(endpoint.kind)}`);
    }
    this.signal = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const modules = process.env.MKDBG_JS_MODULES;
    this.worker = new Worker(path.join(__dirname, 'transport_worker.cjs'), {
      workerData: {
        port: port2,
        signal: this.signal.buffer,
        maxMessage,
        metaPid,
        zeromq: modules ? path.join(modules, 'zeromq') : 'zeromq',
      },
      transferList: [port2],
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    this.nextLink = 1;
    /** line -> fd the main thread may write on itself (-1: through the I/O thread only) */
    this.fds = new Map();
    this.expect('ready', START_TIMEOUT_MS, 'the call plane I/O thread did not start');
    this.post({ op: 'connect', address: endpoint.router, identity });
    const folder = path.dirname(endpoint.router.slice('ipc://'.length));
    this.address = path.join(folder, `d-${identity}`);
    this.post({ op: 'listen', path: this.address });
    this.expect('listening', START_TIMEOUT_MS, `cannot listen on ${this.address}`);
  }

  /** A command for the I/O thread. */
  post(cmd) {
    this.port.postMessage(cmd);
  }

  /** While the main thread is idle, events go to `handler` (from the event loop). */
  onIdle(handler) {
    this.port.on('message', handler);
    this.port.unref();
  }

  /** A line's file descriptor (from its accepted / linked event). */
  adopt(line, fd) {
    this.fds.set(line, Number.isInteger(fd) ? fd : -1);
  }

  /**
   * A message on a direct line. Written straight from this thread when the kernel takes it
   * all at once (one thread hop less per message); otherwise, and from then on for this
   * line (order), through the I/O thread. False: the peer is gone (nothing was sent).
   */
  write(line, data) {
    const fd = this.fds.get(line);
    if (fd !== undefined && fd >= 0) {
      let n = 0;
      try {
        n = fs.writeSync(fd, data);
      } catch (err) {
        if (GONE.has(err.code)) return false;
        n = 0; // EAGAIN: the kernel's buffer is full, the I/O thread waits for room
      }
      if (n === data.length) return true;
      this.fds.set(line, -1);
      data = data.subarray(n);
    }
    this.post({ op: 'write', line, data });
    return true;
  }

  closeLine(line) {
    this.fds.delete(line);
    this.post({ op: 'close_line', line });
  }

  /** The next event, waiting at most `ms` milliseconds (null: none came). */
  next(ms) {
    let got = receiveMessageOnPort(this.port);
    if (got) return got.message;
    const seen = Atomics.load(this.signal, 0);
    got = receiveMessageOnPort(this.port);
    if (got) return got.message;
    Atomics.wait(this.signal, 0, seen, ms);
    got = receiveMessageOnPort(this.port);
    return got ? got.message : null;
  }

  /** At start, before anything else can arrive: wait for one event kind; Error(`failure`)
   * on timeout or failure. */
  expect(kind, ms, failure) {
    const end = Date.now() + ms;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(failure);
      const ev = this.next(Math.min(left, 50));
      if (ev && ev.ev === kind) return ev;
      if (ev && (ev.ev === 'fatal' || ev.ev === 'listen_failed')) {
        throw new Error(`${failure}: ${ev.message}`);
      }
    }
  }
}

module.exports = { Transport };
