'use strict';
/**
 * A kernel started by the meta-kernel dies with it, even if that was SIGKILLed (the
 * Python twin: launch/childsite/sitecustomize.py). Node's `process.ppid` is read once at
 * start, so the live parent comes from /proc.
 */

const fs = require('node:fs');

function parentPid() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return process.ppid; // no /proc: the parent at start, which never changes then
  }
}

/** SIGKILL this process once `metaPid` is no longer its parent (checked twice a second
 * from the calling thread's event loop). */
function dieWithMetaKernel(metaPid) {
  const check = () => {
    if (parentPid() !== metaPid) process.kill(process.pid, 'SIGKILL');
  };
  check();
  setInterval(check, 500).unref();
}

module.exports = { dieWithMetaKernel };
