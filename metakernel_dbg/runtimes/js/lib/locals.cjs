'use strict';
/**
 * Local variables of the frames an error went through, for traces (bounded reprs, as
 * trace.capture_error gives Python frames).
 *
 * JS cannot read its own frames' variables, but V8's inspector can: an inspector Session
 * on this very thread pauses at every exception thrown while the kernel serves calls; the
 * pause handler runs synchronously inside that pause, reads the variables of the user
 * frames on the stack, keeps them with the exception object (the first throw wins) and
 * resumes. Nothing else is ever paused by this session. While the frontend's debugger is
 * attached (debug.cjs), this session is off, so that the two never both pause or
 * blackbox differently.
 */

const inspector = require('node:inspector');
const util = require('node:util');

const MAX_LOCALS = 30;
const MAX_REPR = 200;
const INSPECT = { depth: 2, compact: true, breakLength: Infinity, maxArrayLength: 20, maxStringLength: MAX_REPR };

/** exception -> frames [{file, function, line, locals}], innermost first */
const captured = new WeakMap();
let session = null;
let isUserFile = () => false;
const urls = new Map(); // scriptId -> url (callFrame.url is empty for vm scripts)
let enabled = false;
let armed = false;

function repr(value) {
  let text;
  try {
    text = util.inspect(value, INSPECT);
  } catch (err) {
    text = `<unrepresentable: ${err}>`;
  }
  return text.length <= MAX_REPR ? text : `${text.slice(0, MAX_REPR - 1)}…`;
}

/** Called (through callFunctionOn) on a scope object: its variables' reprs. */
function scopeReprs() {
  const out = {};
  for (const name of Object.keys(this).slice(0, MAX_LOCALS)) out[name] = repr(this[name]);
  return out;
}

function post(method, params) {
  let result = null;
  session.post(method, params, (err, res) => {
    if (!err) result = res;
  });
  return result; // same-thread sessions answer synchronously
}

function filePath(url) {
  return url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
}

function onPaused({ params }) {
  try {
    if (params.data && params.data.type === 'object' && params.data.objectId) capture(params);
  } finally {
    post('Debugger.resume', {});
  }
}

function capture(params) {
  const frames = [];
  for (const frame of params.callFrames) {
    const file = filePath(frame.url || urls.get(frame.location.scriptId) || '');
    if (!isUserFile(file)) continue;
    const locals = {};
    for (const scope of frame.scopeChain) {
      if (!['local', 'block', 'catch'].includes(scope.type) || !scope.object.objectId) continue;
      const res = post('Runtime.callFunctionOn', {
        objectId: scope.object.objectId,
        functionDeclaration: 'function () { return globalThis.__mkdbg.locals.scopeReprs.call(this); }',
        returnByValue: true,
      });
      if (res && res.result && res.result.value) {
        for (const [k, v] of Object.entries(res.result.value)) if (!(k in locals)) locals[k] = v;
      }
    }
    frames.push({ file, function: frame.functionName, line: frame.location.lineNumber + 1, locals });
  }
  if (frames.length) {
    post('Runtime.callFunctionOn', {
      objectId: params.data.objectId,
      functionDeclaration: 'function (frames) { globalThis.__mkdbg.locals.remember(this, frames); }',
      arguments: [{ value: frames }],
    });
  }
}

function remember(error, frames) {
  if (!captured.has(error)) captured.set(error, frames);
}

/** Start the session (at bootstrap); `userFile(path)` tells user files from plumbing. */
function start(userFile) {
  isUserFile = userFile;
  session = new inspector.Session();
  session.connect();
  session.on('Debugger.scriptParsed', ({ params }) => urls.set(params.scriptId, params.url));
  session.on('Debugger.paused', onPaused);
  setEnabled(true);
}

function setEnabled(on) {
  if (session === null || on === enabled) return;
  enabled = on;
  if (on) {
    post('Debugger.enable', {});
    if (armed) post('Debugger.setPauseOnExceptions', { state: 'all' });
  } else {
    post('Debugger.disable', {});
  }
}

/** Capture while served calls run (`on`), not while tslab runs cells. */
function arm(on) {
  armed = on;
  if (enabled) post('Debugger.setPauseOnExceptions', { state: on ? 'all' : 'none' });
}

/**
 * Fill the `locals` of an error's trace frames (innermost last, as describeError gives
 * them) from what was captured when it was thrown, frame by frame from the innermost.
 */
function attach(error, frames) {
  const seen = error !== null && typeof error === 'object' ? captured.get(error) : undefined;
  if (!seen) return;
  let next = 0;
  for (let i = frames.length - 1; i >= 0 && next < seen.length; i--) {
    const at = seen.findIndex((f, j) => j >= next && f.file === frames[i].file && f.function === frames[i].function.replace(/^new /, ''));
    if (at < 0) continue;
    frames[i].locals = seen[at].locals;
    next = at + 1;
  }
}

module.exports = { start, setEnabled, arm, attach, remember, scopeReprs };
