'use strict';
/**
 * Debugger hooks of the JS runtime: the V8 inspector (Chrome DevTools Protocol) opened on
 * request, and the points where a call crosses kernels the way a step crosses a call
 * (runtimes/python/debughooks.py is the Python twin).
 *
 * One CDP client, the meta-kernel's CDP backend (debug/cdp_backend.py), drives the
 * debugger; the runtime offers four tiny functions in a script of their own (HOOKS_URL,
 * not blackboxed), whose pauses the backend answers itself, never showing them:
 *
 *   probe()    where a pending step must be noticed: at the start of call() (a stepIn on a
 *              `call(...)` line stops here) and after a served function returned or threw
 *              (a step that ran off the function stops here). The backend sets
 *              `state.stepped` to the step it was running ('into', 'over', 'out') and
 *              resumes.
 *   stepIn()   `debugger;`, then the backend steps in: into the served function about to
 *              be called (the caller stepped in: `entry`), or on into the caller's code
 *              after a call whose callee's step becomes "into" in the caller.
 *   stop()     `debugger;`, shown as a stop at the caller's `call(...)` line (a callee's
 *              step ran off its function: "here").
 *   clear()    `debugger;`, resumed at once: drops a step V8 has pending in this thread.
 *
 * Without an open inspector none of them runs.
 */

const inspector = require('node:inspector');
const util = require('node:util');
const vm = require('node:vm');

/** URL of the hooks script (scriptParsed url); the backend recognises its pauses by it. */
const HOOKS_URL = 'mkdbg://hooks.js';

/**
 * Written by the backend: `stepped` while paused in probe() (evaluateOnCallFrame);
 * `uncaught` (Runtime.evaluate) while the user wants to stop on uncaught exceptions.
 */
const state = { stepped: null, uncaught: false };

const hooks = vm.runInThisContext(
  `(function () {
  function probe() {
    return 0;
  }
  function stepIn() {
    debugger; // the backend steps into what runs next
  }
  function stop() {
    debugger; // shown as a stop at the caller's call line
  }
  function clear() {
    debugger; // resumed at once: the pending step is gone
  }
  return { probe, stepIn, stop, clear };
})()
`,
  { filename: HOOKS_URL },
);

function active() {
  return inspector.url() !== undefined;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Open the inspector on loopback (a random port); what the backend needs to attach. */
function open(runtimeDir) {
  if (!active()) inspector.open(0, '127.0.0.1', false);
  const dir = escapeRegExp(runtimeDir);
  return {
    url: inspector.url(),
    hooks: HOOKS_URL,
    // the runtime, Node's internals, packages (tslab) and tslab's cells
    blackbox: [`^(file://)?${dir}/`, '^node:', '/node_modules/', '^evalmachine\\.'],
  };
}

function close() {
  if (active()) inspector.close();
  state.stepped = null;
  state.uncaught = false;
  return { closed: true };
}

/** At the start of call(): the step the caller was running on its call line, or null. */
function takeStep() {
  if (!active()) return null;
  state.stepped = null;
  hooks.probe();
  const step = state.stepped;
  state.stepped = null;
  return step;
}

/** After a call: what the callee's pending step becomes here (see applyStep). */
function applyStep(step) {
  if (!active() || !step) return;
  if (step === 'here') hooks.stop();
  else if (step === 'into') hooks.stepIn();
}

/** The waiting thread's pending step is superseded by a stop elsewhere. */
function clearStep() {
  if (active()) hooks.clear();
  return { cleared: active() };
}

/**
 * Run a served function: at its first line if the caller stepped in (`entry`). Sets
 * `outcome.step` to the step the caller continues with when one was pending as the
 * function returned ("here": stop at the call line) or threw ("into": step on into the
 * caller), the rules of debug/stepping.py.
 */
function callBoundary(fn, args, entry, outcome) {
  outcome.step = null;
  if (!active()) return fn(...args);
  state.stepped = null;
  let result;
  try {
    if (entry) hooks.stepIn(); // returns before fn runs: no hooks frame under fn
    result = state.uncaught ? callEscaping(fn, args) : fn(...args);
  } catch (err) {
    hooks.probe(); // consumes a step that ran off fn with the exception
    outcome.step = state.stepped ? 'into' : null;
    state.stepped = null;
    throw err;
  }
  hooks.probe(); // consumes a step that ran off fn
  outcome.step = state.stepped ? 'here' : null;
  state.stepped = null;
  return result;
}

/**
 * fn(...args) such that V8 predicts an exception escaping fn as *uncaught*: the serve loop
 * catches everything, so CDP's pause on "uncaught" exceptions would never stop. Called in
 * a Promise executor with no handler attached, an escaping exception is an uncaught
 * promise rejection (Debugger.paused reason "promiseRejection", data.uncaught true) and
 * exceptions caught inside fn stay caught. The rejection reason is read back
 * synchronously: util.inspect(promise) looks up inspect.custom on the reason.
 */
function callEscaping(fn, args) {
  let value;
  let ok = false;
  const promise = new Promise(() => {
    value = fn(...args);
    ok = true;
  });
  if (ok) return value;
  promise.catch(() => {}); // handled from now on: no unhandledRejection event
  let reason;
  let found = false;
  const key = util.inspect.custom;
  Object.defineProperty(Object.prototype, key, {
    configurable: true,
    get() {
      if (!found && this !== promise) {
        found = true;
        reason = this;
      }
      return undefined;
    },
  });
  let text;
  try {
    text = util.inspect(promise, { depth: 0, customInspect: true });
  } finally {
    delete Object.prototype[key];
  }
  if (found) throw reason;
  // a primitive was thrown: only its printed form is left
  throw text.replace(/^Promise \{\s*<rejected>\s*/, '').replace(/\s*\}$/, '');
}

module.exports = { state, open, close, takeStep, applyStep, clearStep, callBoundary };
