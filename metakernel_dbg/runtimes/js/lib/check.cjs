'use strict';
/**
 * Checks a JavaScript function definition before any kernel sees it (JsRuntime's
 * check_definition): reads {name, source, where} as JSON on stdin, compiles the source
 * without running it and looks for a top-level `function NAME(`; prints
 * {"ok": true} or {"ok": false, "message", "line"}.
 */

const vm = require('node:vm');

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function check({ name, source, where }) {
  try {
    new vm.Script(source, { filename: where });
  } catch (err) {
    // V8 puts "FILE:LINE" on the first line of a SyntaxError's stack
    const match = String(err.stack).match(/:(\d+)\n/);
    const line = match ? Number(match[1]) : null;
    return { ok: false, message: `${err.name} in ${where}: ${err.message} (line ${line})`, line };
  }
  const declared = new RegExp(`^(async\\s+)?function\\s*\\*?\\s*${escapeRegExp(name)}\\s*\\(`, 'm');
  if (!declared.test(source)) {
    const found = [...source.matchAll(/^(?:async\s+)?function\s*\*?\s*([\w$]+)\s*\(/gm)].map((m) => m[1]);
    const names = found.length ? found.sort().join(', ') : 'no function';
    return { ok: false, message: `${where} must define 'function ${name}(...)'; it defines ${names}`, line: null };
  }
  return { ok: true };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(check(JSON.parse(input))));
});
