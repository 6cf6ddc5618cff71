'use strict';
/**
 * Errors across languages, JS side (metakernel_dbg/errors.py's twin).
 *
 * - A JS error thrown by a served function becomes data: {type, message, frames, class,
 *   args}, frames from V8's CallSite API (innermost last, user frames only). `class` names
 *   the Python class a Python caller catches it by: TypeError and SyntaxError are Python's
 *   own; RangeError, ReferenceError, URIError ... are classes of module `javascript` whose
 *   first base is Python's nearest builtin (ValueError, NameError ...), so `except
 *   ValueError` catches a RangeError.
 * - A failed call() throws the error the router's reply describes: for a remote failure an
 *   Error subclass named after the original type (KeyError, or a JS TypeError's TypeError,
 *   which is then also `instanceof TypeError`), that is `instanceof RemoteError` and
 *   carries the message, the frames and the class; for the router's own refusals the
 *   classes below (CallDepthError ...), which a Python caller catches by the same names.
 */

const path = require('node:path');

class MetaKernelError extends Error {
  get name() {
    return this.constructor.name;
  }
}

const REMOTE = Symbol('metakernel_dbg.remote');

/** A called function raised: the remote error (type, message, frames, class, span). */
class RemoteError extends MetaKernelError {
  static [Symbol.hasInstance](value) {
    return Boolean(value) && value[REMOTE] === true;
  }
}

/** What makes an error a RemoteError; shared by the classes made for remote types. */
const remoteMembers = {
  [REMOTE]: true,
  get remoteType() {
    return String(this.origin.type || 'Exception');
  },
  get remoteMessage() {
    return String(this.origin.message || '');
  },
  get frames() {
    return [...(this.error.frames || [])];
  },
  describe() {
    const k = this.origin.kernel || {};
    const where = `${this.origin.function} [${k.spec} pid ${k.pid}]`;
    return `${where} raised ${this.remoteType}: ${this.remoteMessage}`;
  },
};
Object.defineProperties(RemoteError.prototype, Object.getOwnPropertyDescriptors(remoteMembers));

class UnknownFunctionError extends MetaKernelError {}
class CallArgumentError extends MetaKernelError {}
class CallDepthError extends MetaKernelError {}
class CallBudgetError extends MetaKernelError {}
class KernelDiedError extends MetaKernelError {}
class KernelStartError extends MetaKernelError {}
class CallTimeoutError extends MetaKernelError {}
class CallAborted extends MetaKernelError {}

const KINDS = {
  unknown_function: UnknownFunctionError,
  argument: CallArgumentError,
  depth: CallDepthError,
  budget: CallBudgetError,
  died: KernelDiedError,
  start: KernelStartError,
  timeout: CallTimeoutError,
  aborted: CallAborted,
};
const OWN = new Set(Object.values(KINDS).map((cls) => cls.name));

/** JS builtin error -> the Python builtin a Python caller catches it by. */
const PYTHON_BUILTINS = {
  Error: 'Exception',
  TypeError: 'TypeError',
  SyntaxError: 'SyntaxError',
  RangeError: 'ValueError',
  URIError: 'ValueError',
  ReferenceError: 'NameError',
  EvalError: 'Exception',
  AggregateError: 'Exception',
};
/** Python builtin -> the JS builtin a remote error of that type also is an instance of. */
const JS_BUILTINS = { TypeError, SyntaxError, RangeError, ReferenceError, URIError, EvalError };

/** The Python class data of a JS error class (see the module docstring). */
function classInfo(value) {
  if (value instanceof RemoteError && value.error.class) return value.error.class;
  if (value && value.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
    return { module: 'builtins', qualname: 'KeyboardInterrupt', bases: [['builtins', 'BaseException']] };
  }
  const chain = [];
  for (let proto = Object.getPrototypeOf(value ?? {}); proto && proto !== Object.prototype; ) {
    const name = proto.constructor && proto.constructor.name;
    if (name && !chain.includes(name)) chain.push(name);
    proto = Object.getPrototypeOf(proto);
  }
  const asPython = (name) => {
    if (OWN.has(name)) return ['metakernel_dbg.errors', name];
    if (PYTHON_BUILTINS[name] === name) return ['builtins', name];
    return ['javascript', name];
  };
  const bases = [];
  for (const name of chain.slice(1)) bases.push(asPython(name));
  for (const name of chain) if (PYTHON_BUILTINS[name]) bases.push(['builtins', PYTHON_BUILTINS[name]]);
  bases.push(['builtins', 'Exception'], ['builtins', 'BaseException']);
  const [module, qualname] = asPython(chain[0] || 'Error');
  const seen = new Set([`${module}.${qualname}`]);
  return {
    module,
    qualname,
    bases: bases.filter(([m, q]) => !seen.has(`${m}.${q}`) && seen.add(`${m}.${q}`)),
  };
}

const remoteClasses = new Map();

/** The JS class of a remote error: one per original class, named after it. */
function remoteClass(info) {
  const module = String(info.module || 'javascript');
  const qualname = String(info.qualname || 'Exception');
  const key = `${module}.${qualname}`;
  let cls = remoteClasses.get(key);
  if (!cls) {
    const name = qualname.split('.').pop();
    const builtins = [qualname, ...(info.bases || []).map((b) => b[1])];
    const Base = JS_BUILTINS[builtins.find((n) => n in JS_BUILTINS)] || Error;
    cls = class extends Base {};
    Object.defineProperty(cls, 'name', { value: name });
    Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
    Object.defineProperties(cls.prototype, Object.getOwnPropertyDescriptors(remoteMembers));
    remoteClasses.set(key, cls);
  }
  return cls;
}

/** The error a router `error` reply describes (see the module docstring). */
function fromReply(reply) {
  const kind = reply.kind || 'remote';
  if (kind !== 'remote') {
    const exc = new (KINDS[kind] || MetaKernelError)(reply.message || kind);
    exc.spanId = reply.span || '';
    return exc;
  }
  const error = reply.error || {};
  const origin = reply.origin || { function: reply.function, kernel: reply.kernel, ...error };
  const Cls = error.class ? remoteClass(error.class) : RemoteError;
  const exc = new Cls(String(origin.message ?? error.message ?? ''));
  Object.assign(exc, {
    function: reply.function || '?',
    kernel: reply.kernel || {},
    error,
    spanId: reply.span || '',
    origin,
  });
  if (Cls === RemoteError) exc.message = exc.describe();
  return exc;
}

// -- frames ------------------------------------------------------------------------------

/** Call sites of errors, kept by our Error.prepareStackTrace (V8 calls it lazily, once). */
const callSites = new WeakMap();
let installed = false;

/**
 * Keep every error's structured call sites. The string V8 would build is rebuilt from
 * them (Node's own format: "Type: message\n    at ..."), or a previous hook's is used.
 */
function installStackHook(minFrames = 50) {
  if (installed) return;
  installed = true;
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = function prepareStackTrace(error, sites) {
    if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
      callSites.set(error, sites);
    }
    if (previous) return previous(error, sites);
    let head;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = '<error>';
    }
    return head + sites.map((s) => `\n    at ${s}`).join('');
  };
  if (Error.stackTraceLimit < minFrames) Error.stackTraceLimit = minFrames;
}

/** The call sites of the current stack (innermost first), below function `below`. */
function currentSites(below) {
  const holder = {};
  const saved = Error.prepareStackTrace;
  Error.prepareStackTrace = (_, sites) => sites;
  try {
    Error.captureStackTrace(holder, below);
    return holder.stack;
  } finally {
    Error.prepareStackTrace = saved;
  }
}

function siteFile(site) {
  let file = site.getFileName() || site.getScriptNameOrSourceURL() || '';
  if (file.startsWith('file://')) file = decodeURIComponent(new URL(file).pathname);
  return file;
}

function siteName(site) {
  const fn = site.getFunctionName();
  if (site.isToplevel() && !fn) return '<module>';
  return (site.isConstructor() ? 'new ' : '') + (fn || site.getMethodName() || '<anonymous>');
}

/**
 * Call sites as the trace's frames (innermost LAST, as Python's), user frames only:
 * `isPlumbing(file)` drops the runtime's, Node's and the kernel's.
 */
function siteFrames(sites, isPlumbing, getLine) {
  const frames = [];
  for (const site of sites || []) {
    const file = siteFile(site);
    if (!path.isAbsolute(file) || isPlumbing(file)) continue;
    const line = site.getLineNumber() || 0;
    frames.push({
      file,
      line,
      function: siteName(site),
      source: (getLine(file, line) || '').trim(),
      locals: {},
    });
  }
  return frames.reverse();
}

const CHAIN_DEPTH = 8; // how deep `cause` chains are carried (as in errors.py)

function isError(value) {
  return value instanceof Error || (value !== null && typeof value === 'object' && 'stack' in value);
}

/** A thrown value as plain data: {type, message, frames, class, args} (see above), and its
 * `cause` (new Error(msg, {cause})) like a Python exception's __cause__. */
function describeError(value, isPlumbing, getLine, depth = 0) {
  if (!isError(value)) {
    const message = safeString(value);
    const type = value === null ? 'null' : typeof value;
    return { type, message, frames: [], class: classInfo(new Error()), args: [message] };
  }
  void value.stack; // makes V8 run prepareStackTrace once, which records the call sites
  const message = safeString(value.message ?? '');
  let type = String(value.name || (value.constructor && value.constructor.name) || 'Error');
  if (value.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') type = 'KeyboardInterrupt';
  const described = {
    type,
    message,
    frames: depth ? [] : siteFrames(callSites.get(value), isPlumbing, getLine),
    class: classInfo(value),
    args: [message],
    suppress_context: false,
  };
  if (value instanceof RemoteError) {
    described.type = value.remoteType;
    described.message = value.remoteMessage;
    described.args = Array.isArray(value.error.args) ? value.error.args : [value.remoteMessage];
  }
  if (isError(value.cause) && depth < CHAIN_DEPTH) {
    described.cause = describeError(value.cause, isPlumbing, getLine, depth + 1);
    delete described.cause.frames;
  }
  return described;
}

function safeString(value) {
  try {
    return String(value);
  } catch (err) {
    return `<unprintable ${typeof value}>`;
  }
}

module.exports = {
  ...Object.fromEntries(Object.values(KINDS).map((cls) => [cls.name, cls])),
  MetaKernelError,
  RemoteError,
  fromReply,
  installStackHook,
  currentSites,
  siteFrames,
  describeError,
};
