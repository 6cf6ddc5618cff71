'use strict';
/**
 * The part of metakernel_dbg that runs inside JavaScript child kernels (tslab --js), the
 * twin of runtimes/python/runtime.py. The kernelspec preloads it (`node -r runtime.cjs
 * tslab kernel --js`); it defines `globalThis.__mkdbg`, whose entry points the meta-kernel
 * sends as cells (runtimes/js/__init__.py), and the global `call(name, ...args)`.
 *
 * `call()` is synchronous, as in Python: a worker thread owns the sockets and the main
 * thread waits in Atomics.wait slices (lib/transport.cjs), so a waiting caller answers
 * the router's inspections and stays pausable by a debugger and interruptible. A served
 * function runs under a SIGINT boundary of its own, so an interrupt ends the call with
 * an error and leaves the kernel serving.
 *
 * tslab type-checks every cell, even in JS mode: cells name only `globalThis.*`.
 */

// Buffer from the module, not the global: the global is a getter in Node's bootstrap code,
// and V8 stops in such implicitly called functions while stepping even when blackboxed
const { Buffer } = require('node:buffer');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const debug = require('./lib/debug.cjs');
const errors = require('./lib/errors.cjs');
const lifetime = require('./lib/lifetime.cjs');
const locals = require('./lib/locals.cjs');
const { bindKeywords } = require('./lib/params.cjs');
const { Transport } = require('./lib/transport.cjs');
const values = require('./lib/values.cjs');
const wire = require('./lib/wire.cjs');

const { PAYLOAD, Channel } = wire;
const WAIT_SLICE_MS = 50;
const LINK_TIMEOUT_MS = 5000;
const OUT_FLUSH_BYTES = 8192;
const OUT_FLUSH_MS = 50; // a write after this long goes out at once (no flush() in JS)
const RUNTIME_DIR = __dirname;
const INVOKE_FILE = path.join(RUNTIME_DIR, 'lib', 'invoke.mkdbg.js'); // the SIGINT boundary
/** the first line of a cell's printed outcome (see `cell`) */
const OUTCOME = '\u0001mkdbg ';

/** Sources of defined functions, by file name: error frames and stacks show their lines. */
const sources = new Map();

function getLine(file, line) {
  let lines = sources.get(file);
  if (!lines) {
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sources.set(file, lines);
  }
  return lines[line - 1] || '';
}

/** Frames of the runtime, Node, tslab and other packages never show in user stacks. */
function isPlumbing(file) {
  return file.startsWith(RUNTIME_DIR + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`);
}

function isUserFile(file) {
  return path.isAbsolute(file) && !isPlumbing(file);
}

errors.installStackHook();

/**
 * A kernel started by the meta-kernel dies with it, even before its bootstrap ran (a warm
 * pool kernel, one still starting when the meta-kernel was killed): this thread watches
 * while tslab idles, the call plane's I/O thread while a long serve cell keeps it busy.
 */
const META_PID = Number(process.env.MKDBG_META_PID) || null;
delete process.env.MKDBG_META_PID; // processes the user's code starts are not concerned
if (META_PID !== null) lifetime.dieWithMetaKernel(META_PID);

// -- the step fields of replies (issue 11 replaces `stop_after_return` with `step`) ---------

/** What a callee's pending step becomes in this caller: null, "here" or "into". */
function stepOf(reply) {
  return reply.step ?? (reply.stop_after_return ? 'here' : null);
}

/** A served call's reply fields for the step the caller continues with. */
function stepFields(step) {
  if (!step) return {};
  return step === 'here' ? { step, stop_after_return: true } : { step };
}

// -- output ----------------------------------------------------------------------------

/**
 * While a call runs, process.stdout/stderr writes (console.log, console.error ...) go to
 * the router as "out" messages, so all kernels' output stays in causal order: it always
 * reaches the router before this call's return or the next call it makes. Writes are
 * batched: up to 8 KiB, or 50 ms (JS code cannot flush, and a loop may never return).
 */
class CallOutput {
  constructor(runtime, callId) {
    this.runtime = runtime;
    this.callId = callId;
    this.parts = [];
    this.name = 'stdout';
    this.size = 0;
    this.flushed = 0; // Date.now() of the last flush
    this.saved = [process.stdout.write, process.stderr.write];
    process.stdout.write = this.writer('stdout');
    process.stderr.write = this.writer('stderr');
  }

  writer(name) {
    return (chunk, encoding, done) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      if (name !== this.name) this.flush(); // interleaved streams keep their order
      this.name = name;
      this.parts.push(text);
      this.size += text.length;
      if (this.size >= OUT_FLUSH_BYTES || Date.now() - this.flushed >= OUT_FLUSH_MS) this.flush();
      const callback = typeof encoding === 'function' ? encoding : done;
      if (typeof callback === 'function') callback();
      return true;
    };
  }

  flush() {
    this.flushed = Date.now();
    if (!this.parts.length) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.runtime.send({ k: 'out', id: this.callId, name: this.name, text });
  }

  restore() {
    this.flush();
    [process.stdout.write, process.stderr.write] = this.saved;
  }
}

// -- the runtime -----------------------------------------------------------------------

class Runtime {
  constructor(endpoint, instanceId, key, maxMessage) {
    this.instanceId = instanceId;
    this.key = key;
    this.maxMessage = maxMessage;
    this.channel = new Channel(key);
    this.transport = new Transport(endpoint, instanceId, maxMessage, META_PID);
    /** transport events that arrived while waiting for something else */
    this.deferred = [];
    /** router messages that arrived while the kernel was idle (before its serve cell) */
    this.inbox = [];
    this.callers = new Map(); // accepted line -> its channel (null until the caller's id)
    this.links = new Map(); // callee instance id -> {line, channel, instanceId}
    this.grants = new Map(); // function -> [instance id] this kernel may call directly
    this.maxDepth = 0;
    /** instances on the call stack down to (and including) this one, outermost first */
    this.chain = [];
    /** the router message that must be handled before our next one: [peer, number] */
    this.dep = null;
    this.nextId = 1;
    /** callers blocked in call(), innermost first: {frames (innermost last), id} */
    this.waiting = [];
    /** the served call in progress (kept if an interrupt unwinds past serve) */
    this.current = null;
    this.output = null;
    this.functions = new Map();
    this.transport.onIdle((ev) => this.onIdleEvent(ev));
    this.send({ k: 'hello', direct: this.transport.address });
  }

  // -- messaging ---------------------------------------------------------------------
  send(msg) {
    if (this.dep !== null) {
      msg.dep = this.dep;
      this.dep = null;
    }
    this.transport.post({ op: 'send', frames: this.channel.pack(msg) });
  }

  nextEvent(ms) {
    return this.deferred.length ? this.deferred.shift() : this.transport.next(ms);
  }

  checkSize(payload, where) {
    if (payload.length > this.maxMessage) {
      throw new errors.CallArgumentError(
        `${where}: a message of ${payload.length} bytes is over the call plane's limit of ${this.maxMessage} bytes`,
      );
    }
  }

  /** What the router may say while no JS runs: inspections are answered, the rest kept. */
  onIdleEvent(ev) {
    if (ev.ev !== 'router') {
      this.deferred.push(ev);
      return;
    }
    const msg = this.channel.unpack(ev.frames);
    if (msg === null) return;
    if (msg.k === 'inspect' || msg.k === 'revoke') this.onRouterMessage(msg);
    else this.inbox.push(msg);
  }

  // -- calling -----------------------------------------------------------------------
  call(name, args, kwargs, step, sites) {
    if (typeof name !== 'string') {
      throw new TypeError(`call() needs a function name (string), got ${typeof name}`);
    }
    const where = `call(${JSON.stringify(name)})`;
    let payload;
    try {
      payload = values.encodeCall(args, kwargs, where);
    } catch (err) {
      if (err instanceof values.ValueError) throw new errors.CallArgumentError(err.message);
      throw err;
    }
    this.checkSize(payload, where);
    if (this.output) this.output.flush();
    const frames = errors.siteFrames(sites, isPlumbing, getLine); // innermost last
    const top = frames[frames.length - 1];
    const site = top ? { file: top.file, line: top.line } : null;
    const entry = step === 'into';
    const link = this.linkFor(name);
    const waiting = { frames, id: null };
    this.waiting.unshift(waiting);
    let reply = null;
    try {
      if (link) reply = this.callDirect(link, name, payload, site, entry, waiting);
      if (reply === null) reply = this.callRouted(name, payload, site, entry, waiting);
    } finally {
      const at = this.waiting.indexOf(waiting); // gone if an interrupt abandoned it
      if (at >= 0) this.waiting.splice(at, 1);
    }
    if (reply.k === 'return') {
      let value = null;
      try {
        if (PAYLOAD in reply) value = values.decode(reply[PAYLOAD]);
      } catch (err) {
        throw new errors.CallArgumentError(`${where} returned a bad value: ${err.message}`);
      }
      debug.applyStep(stepOf(reply)); // the very last thing: a stop shows the call line
      return value;
    }
    const err = errors.fromReply(reply);
    debug.applyStep(stepOf(reply));
    throw err;
  }

  callRouted(name, payload, site, entry, waiting) {
    const callId = this.nextId++;
    waiting.id = callId;
    this.send({ k: 'call', id: callId, fn: name, [PAYLOAD]: payload, site, entry });
    const reply = this.wait(callId, null);
    if (reply.k === 'return' && reply.grant && typeof reply.grant === 'object') {
      this.addGrant(name, reply.grant);
    }
    return reply;
  }

  /**
   * Straight to the callee; the router learns of it from a notice sent alongside. The
   * callee's first router message must be handled after that notice (its `dep`), so the
   * router's view of the stack stays exact. null: the router redirected us.
   */
  callDirect(link, name, payload, site, entry, waiting) {
    const span = newSpanId();
    waiting.id = span;
    const msg = {
      k: 'call',
      id: span,
      fn: name,
      [PAYLOAD]: payload,
      entry,
      chain: [...this.chain, link.instanceId],
      dep: [this.instanceId, this.channel.nextNumber],
    };
    if (!this.transport.write(link.line, wire.frameMessage(link.channel.pack(msg)))) {
      this.dropGrant(name, link.instanceId); // the callee is gone: the router picks another
      return null;
    }
    this.send({
      k: 'called',
      id: span,
      to: link.instanceId,
      fn: name,
      site,
      entry,
      size: payload.length,
      [PAYLOAD]: payload.subarray(0, wire.ARGS_PREVIEW),
    });
    const reply = this.wait(span, link);
    if (reply.k === 'redirect' || reply.kind === 'died' || reply.kind === 'timeout') {
      this.dropGrant(name, link.instanceId);
    }
    return reply.k === 'redirect' ? null : reply;
  }

  linkFor(name) {
    if (this.chain.length >= this.maxDepth) return null; // the router refuses: let it say why
    for (const id of this.grants.get(name) || []) {
      if (!this.chain.includes(id)) return this.links.get(id);
    }
    return null;
  }

  addGrant(name, grant) {
    const id = String(grant.to);
    if (!this.links.has(id)) {
      const link = this.openLink(id, grant);
      if (link === null) return; // the instance is already gone: keep calling via the router
      this.links.set(id, link);
    }
    const granted = this.grants.get(name) || [];
    if (!granted.includes(id)) granted.push(id);
    this.grants.set(name, granted);
    this.maxDepth = Number(grant.depth || 0);
  }

  /** A direct line to a callee; its first message says who we are (keys derive from it). */
  openLink(instanceId, grant) {
    const [callKey, backKey] = grant.keys.map((k) => Buffer.from(k, 'hex'));
    const line = this.transport.nextLink++;
    const hello = wire.frameMessage([Buffer.from(this.instanceId, 'utf8')]);
    this.transport.post({ op: 'link', line, path: String(grant.addr), data: hello });
    const end = Date.now() + LINK_TIMEOUT_MS;
    const skipped = [];
    try {
      while (Date.now() < end) {
        const ev = this.transport.next(WAIT_SLICE_MS);
        if (ev === null) continue;
        if (ev.line === line && ev.ev === 'linked') {
          this.transport.adopt(line, ev.fd);
          return { line, instanceId, channel: new Channel(callKey, { recvKey: backKey }) };
        }
        if (ev.line === line && (ev.ev === 'link_failed' || ev.ev === 'eof')) break;
        skipped.push(ev);
      }
    } finally {
      this.deferred.push(...skipped);
    }
    this.transport.closeLine(line);
    return null;
  }

  dropGrant(name, id) {
    const granted = this.grants.get(name) || [];
    if (granted.includes(id)) granted.splice(granted.indexOf(id), 1);
    const link = this.links.get(id);
    if (link) {
      this.links.delete(id);
      this.transport.closeLine(link.line);
    }
  }

  /** Wait in slices for the reply to `callId` (from the router, or the link's line). */
  wait(callId, link) {
    for (;;) {
      const ev = this.transport.next(WAIT_SLICE_MS);
      if (ev === null) continue; // (a debugger's pause is served by V8 inside the wait)
      switch (ev.ev) {
        case 'line':
          if (link && ev.line === link.line) {
            const msg = link.channel.unpack(ev.frames);
            if (msg !== null && msg.id === callId) {
              this.dep = msg.dep ?? null;
              return msg;
            } // anything else is the late answer of an abandoned call
          } else this.deferred.push(ev); // a direct call to us: served later
          break;
        case 'eof':
          if (link && ev.line === link.line) link = null; // the callee died: the router says so
          else this.deferred.push(ev);
          break;
        case 'router': {
          const msg = this.channel.unpack(ev.frames);
          if (msg === null) break;
          if (['return', 'error', 'redirect'].includes(msg.k) && msg.id === callId) return msg;
          this.onRouterMessage(msg);
          break;
        }
        case 'fatal':
          throw new Error(`call plane failure: ${ev.message}`);
        default:
          this.deferred.push(ev);
      }
    }
  }

  /** What the router may say to a kernel that is not waiting for this message. */
  onRouterMessage(msg) {
    if (msg.k === 'inspect') this.answerInspect(msg);
    else if (msg.k === 'revoke') this.grants.clear(); // the render ends badly: route everything
  }

  // -- serving -----------------------------------------------------------------------
  /** Run calls routed to this kernel until the router says stop (end of a render). */
  serve() {
    this.recoverInterrupted();
    this.send({ k: 'serving' });
    locals.arm(true);
    try {
      for (;;) {
        try {
          // one event at a time under a SIGINT boundary: an interrupt while idle is
          // swallowed (Python's serve() keeps serving after a KeyboardInterrupt too)
          if (atSigintBoundary(() => this.serveOne())) return;
        } catch (err) {
          if (!isInterrupt(err)) throw err;
        }
      }
    } finally {
      locals.arm(false);
      this.grants.clear(); // grants hold for one render
    }
  }

  /** Handle the next event; true once the router said stop. */
  serveOne() {
    let msg;
    if (this.inbox.length) msg = this.inbox.shift();
    else {
      const ev = this.nextEvent(WAIT_SLICE_MS * 4);
      if (ev === null) return false;
      if (ev.ev === 'accepted') {
        this.callers.set(ev.line, null);
        this.transport.adopt(ev.line, ev.fd);
      } else if (ev.ev === 'line') this.serveDirect(ev);
      else if (ev.ev === 'eof') {
        this.callers.delete(ev.line);
        this.transport.closeLine(ev.line);
      } else if (ev.ev === 'fatal') throw new Error(`call plane failure: ${ev.message}`);
      if (ev.ev !== 'router') return false;
      msg = this.channel.unpack(ev.frames);
      if (msg === null) return false;
    }
    if (msg.k === 'stop') return true;
    if (msg.k === 'call') this.send(this.runCall(msg));
    else this.onRouterMessage(msg);
    return false;
  }

  /** Tell the router the calls still listed as waiting were abandoned (interrupted). */
  abandonWaiting() {
    for (const w of this.waiting) if (w.id !== null) this.send({ k: 'cancel', id: w.id });
    this.waiting = [];
  }

  /** An interrupt that unwound past serve() left a call unanswered: answer it now. */
  recoverInterrupted() {
    this.abandonWaiting();
    if (this.output) {
      this.output.restore();
      this.output = null;
    }
    const current = this.current;
    this.current = null;
    if (current) {
      const err = Object.assign(new Error('Script execution was interrupted by SIGINT'), {
        code: 'ERR_SCRIPT_EXECUTION_INTERRUPTED',
      });
      this.send(this.errorReply(current.id, err));
    }
  }

  /** A call straight from a caller holding a link to this kernel. */
  serveDirect(ev) {
    if (!this.callers.has(ev.line)) return;
    const channel = this.callers.get(ev.line);
    if (channel === null) {
      // the line's first message: the caller's id
      const callerId = Buffer.from(ev.frames[0]).toString('utf8');
      const [callKey, backKey] = wire.linkKeys(this.key, callerId);
      this.callers.set(ev.line, new Channel(backKey, { recvKey: callKey }));
      return;
    }
    const msg = channel.unpack(ev.frames); // forged or replayed: null, dropped
    if (msg === null || msg.k !== 'call') return;
    this.dep = msg.dep ?? null;
    const reply = this.runCall(msg);
    if (reply.k !== 'return') {
      this.send(reply); // errors go via the router, which builds the merged trace
      return;
    }
    reply.dep = [this.instanceId, this.channel.nextNumber];
    if (!this.transport.write(ev.line, wire.frameMessage(channel.pack(reply)))) {
      this.callers.delete(ev.line); // the caller is gone (interrupted, abandoned us)
      this.transport.closeLine(ev.line);
    }
    this.send({ k: 'returned', id: msg.id });
  }

  resolve(name) {
    const fn = this.functions.get(name);
    if (typeof fn !== 'function') {
      throw new ReferenceError(`function ${JSON.stringify(name)} is not defined in this kernel`);
    }
    return fn;
  }

  /** Run one call; the reply to send (a return with its payload, or an error). */
  runCall(msg) {
    const callId = msg.id;
    this.chain = Array.isArray(msg.chain) ? msg.chain : [this.instanceId];
    this.current = { id: callId };
    this.output = new CallOutput(this, callId);
    const outcome = { step: null };
    let reply;
    try {
      const fn = this.resolve(msg.fn);
      const [given, kwargs] = PAYLOAD in msg ? values.decode(msg[PAYLOAD]) : [[], {}];
      const args = kwargs ? bindKeywords(fn, msg.fn, given, kwargs) : given;
      const value = atSigintBoundary(() => debug.callBoundary(fn, args, Boolean(msg.entry), outcome));
      const where = `${msg.fn}() returned a bad value`;
      let payload;
      try {
        payload = values.encodeValue(value, `${where}: result`);
      } catch (err) {
        throw err instanceof values.ValueError ? new errors.CallArgumentError(err.message) : err;
      }
      this.checkSize(payload, where);
      reply = { k: 'return', id: callId, [PAYLOAD]: payload };
    } catch (err) {
      reply = this.errorReply(callId, err);
    } finally {
      // an interrupt unwinds through the function's frames without running their finally
      // blocks: calls still listed as waiting were abandoned
      this.abandonWaiting();
      this.output.restore();
      this.output = null;
      this.current = null;
    }
    return Object.assign(reply, stepFields(outcome.step));
  }

  errorReply(callId, err) {
    const error = errors.describeError(err, isPlumbing, getLine);
    locals.attach(err, error.frames);
    const reply = { k: 'error', id: callId, error };
    if (err && err.spanId) reply.propagated_from = err.spanId; // failed in a callee
    return reply;
  }

  // -- inspection of blocked callers -------------------------------------------------
  answerInspect(msg) {
    let reply;
    try {
      reply = { k: 'inspected', req: msg.req, ok: true, result: this.inspect(msg) };
    } catch (err) {
      reply = { k: 'inspected', req: msg.req, ok: false, message: String(err.message || err) };
    }
    this.send(reply);
  }

  inspect(msg) {
    switch (msg.op) {
      case 'debug_open': // the debugger opens (and closes) while idle, serving or waiting
        locals.setEnabled(false);
        return debug.open(RUNTIME_DIR);
      case 'debug_close':
        debug.close();
        locals.setEnabled(true);
        return { closed: true };
      case 'step':
        if (msg.action !== 'clear') throw new Error(`unknown step action ${JSON.stringify(msg.action)}`);
        return debug.clearStep();
      case 'stack': {
        const frames = this.waiting.length ? [...this.waiting[0].frames].reverse() : [];
        return frames.map((f) => ({ name: f.function, file: f.file, line: f.line, source: f.source }));
      }
      case 'variables':
      case 'evaluate':
      case 'exec':
        // JS cannot read its own frames' variables: the debugger (CDP backend) shows them
        throw new Error(`${msg.op}: a JavaScript frame is inspected through the debugger`);
      default:
        throw new Error(`unknown inspection ${JSON.stringify(msg.op)}`);
    }
  }
}

// -- the SIGINT boundary -----------------------------------------------------------------

/**
 * Served calls (and each idle step of the serve loop) run under a vm script of their own
 * with breakOnSigint: Node's SIGINT watchdogs nest and the innermost takes the signal, so
 * a SIGINT ends the call with a catchable error (ERR_SCRIPT_EXECUTION_INTERRUPTED) instead
 * of terminating tslab's whole serve cell. Frames inside the boundary skip their finally
 * blocks: the state they would restore is restored outside it.
 */
let pending = null;
const boundaryScript = new vm.Script('__mkdbg_invoke()', { filename: INVOKE_FILE });
Object.defineProperty(globalThis, '__mkdbg_invoke', {
  value: function __mkdbg_invoke() {
    const fn = pending;
    pending = null;
    return fn();
  },
});

function atSigintBoundary(fn) {
  pending = fn;
  return boundaryScript.runInThisContext({ breakOnSigint: true });
}

function isInterrupt(err) {
  return Boolean(err) && err.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

function newSpanId() {
  for (;;) {
    const id = crypto.randomBytes(8).toString('hex');
    if (id !== '0000000000000000') return id;
  }
}

// -- entry points (cells the meta-kernel sends) --------------------------------------------

let runtime = null;

function requireRuntime() {
  if (runtime === null) throw new Error('call() only works inside a kernel started by metakernel_dbg');
  return runtime;
}

/** Connect this kernel to the router (settings: runtimes/base.py's Bootstrap). */
function bootstrap(settings) {
  runtime = new Runtime(
    settings.endpoint,
    settings.instance_id,
    Buffer.from(settings.key, 'hex'),
    settings.max_message,
  );
  locals.start(isUserFile);
  return { pid: process.pid, node: process.version };
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Run a function's source under its file name, so breakpoints and error frames match. */
function define(name, source, filename) {
  if (!IDENTIFIER.test(name)) throw new SyntaxError(`not a JavaScript function name: ${name}`);
  sources.set(filename, source.split('\n'));
  vm.runInThisContext(source, { filename });
  // a function declaration is a global property; let/const/class live in the script scope
  const fn = vm.runInThisContext(`typeof ${name} === 'function' ? ${name} : undefined`);
  if (typeof fn !== 'function') throw new ReferenceError(`the cell did not define a function named ${name}`);
  requireRuntime().functions.set(name, fn);
  return { name, file: filename };
}

/** The serve cell: the one entry point whose outcome nobody reads (it runs for a render);
 * like cell() it never fails the cell, and says on stderr why it ended early. */
function serve() {
  try {
    requireRuntime().serve();
  } catch (err) {
    const { type, message } = errors.describeError(err, isPlumbing, getLine);
    process.stderr.write(`[metakernel_dbg] the serve loop ended: ${type}: ${message}\n`);
  }
}

/** Call the function NAME in its own kernel; arguments and result are JSON values. */
function call(name, ...args) {
  // the step probe first: no other code may run between the user's line and it (stepping
  // into V8's prepareStackTrace callback, below, stops there even when blackboxed)
  const step = debug.takeStep();
  return requireRuntime().call(name, args, {}, step, errors.currentSites(call));
}

/** call() with Python keyword arguments: callKw('f', [1, 2], {scale: 3}). */
function callKw(name, args = [], kwargs = {}) {
  const step = debug.takeStep();
  return requireRuntime().call(name, args, kwargs, step, errors.currentSites(callKw));
}

/**
 * Run an entry point without ever failing the cell: tslab answers every request that
 * arrives within 200 ms after a failed cell with status "abort", and its error replies
 * carry no ename/evalue. The outcome is printed on stdout instead, one line:
 * OUTCOME + {"ok": true, "result": ...} or {"ok": false, "error": {type, message, frames}}.
 */
function cell(op, ...args) {
  let out;
  try {
    out = { ok: true, result: entryPoints[op](...args) ?? null };
  } catch (err) {
    out = { ok: false, error: errors.describeError(err, () => false, getLine) };
  }
  process.stdout.write(`${OUTCOME}${JSON.stringify(out)}\n`);
}

const entryPoints = { bootstrap, define };

/** Entry points (cells), the hooks' state the CDP backend writes, what locals.cjs calls
 * back through the inspector, and the error classes for user code (`__mkdbg.errors`). */
const api = { cell, serve, debug: { state: debug.state }, locals, errors };
Object.defineProperty(globalThis, '__mkdbg', { value: api });
for (const [name, fn] of [['call', call], ['callKw', callKw]]) {
  Object.defineProperty(globalThis, name, { value: fn, writable: true, configurable: true });
}
