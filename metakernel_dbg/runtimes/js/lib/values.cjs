'use strict';
/**
 * Values on the call plane, JS side (metakernel_dbg/callplane/values.py's twin): a value
 * arrives equal and of the nearest JS type, or the call fails loudly, naming where the
 * value that cannot travel sits (`call("f"): args[0]["a"][1]: Set cannot travel ...`).
 *
 * JSON values travel as themselves. Python's values that JSON has no form for travel
 * tagged, as an object with exactly one `$` key; here they become:
 *
 *   {"$tuple": [...]}      -> an Array (JS has no tuple; it goes back as a list)
 *   {"$dict": [[k, v]...]} -> a Map (keys of any type; a Map goes back as a dict, its
 *                             Array keys as tuples)
 *   {"$float": "nan"}      -> NaN, Infinity, -Infinity (and back)
 *
 * A plain object with a key that starts with `$` travels as a `$dict`, as in Python.
 * Refused: functions, symbols, BigInt, cycles, and objects that are not plain objects,
 * arrays or Maps (Set, Date, class instances, Promises ...). `undefined` is `null` (a
 * function that returns nothing returns None), except as an object property, which is
 * left out as JSON.stringify does. Numbers are doubles: integers beyond 2^53 from Python
 * lose precision.
 */

const { Buffer } = require('node:buffer');

const MAX_DEPTH = 200;
const TAGS = new Set(['$tuple', '$dict', '$float']);
const FLOATS = { nan: NaN, inf: Infinity, '-inf': -Infinity };
const HINT =
  '(JSON values, arrays, plain objects, Maps and non-finite numbers can travel between kernels)';

class ValueError extends TypeError {}

function typeName(value) {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const proto = Object.getPrototypeOf(value);
  return (proto && proto.constructor && proto.constructor.name) || 'Object';
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The JSON-able (tagged) form of `value`; ValueError names what cannot travel. */
function toWire(value, path, seen = new Set()) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'number':
      if (Number.isFinite(value)) return value;
      return { $float: Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf' };
    case 'object':
      if (value === null) return null;
      break;
    default:
      throw new ValueError(`${path}: ${typeof value} cannot travel between kernels ${HINT}`);
  }
  if (seen.has(value)) throw new ValueError(`${path}: a cycle cannot travel between kernels`);
  if (seen.size >= MAX_DEPTH) {
    throw new ValueError(`${path}: nested more than ${MAX_DEPTH} levels deep`);
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item, i) => toWire(item, `${path}[${i}]`, seen));
    if (value instanceof Map) {
      const pairs = [];
      for (const [k, v] of value) {
        const where = `${path}[${JSON.stringify(k) ?? String(k)}]`;
        pairs.push([keyToWire(k, `${path}: key ${String(k)}`, seen), toWire(v, where, seen)]);
      }
      return { $dict: pairs };
    }
    if (!isPlainObject(value)) {
      throw new ValueError(`${path}: ${typeName(value)} cannot travel between kernels ${HINT}`);
    }
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    const items = keys.map((k) => [k, toWire(value[k], `${path}[${JSON.stringify(k)}]`, seen)]);
    if (keys.some((k) => k.startsWith('$'))) return { $dict: items };
    return Object.fromEntries(items);
  } finally {
    seen.delete(value);
  }
}

/** A Map key: an Array key (a Python tuple key, decoded) goes back as a tuple. */
function keyToWire(key, path, seen) {
  if (!Array.isArray(key)) return toWire(key, path, seen);
  return { $tuple: key.map((item, i) => keyToWire(item, `${path}[${i}]`, seen)) };
}

function untag(key, value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || !TAGS.has(keys[0])) return value;
  const item = value[keys[0]];
  switch (keys[0]) {
    case '$tuple':
      return item;
    case '$float':
      if (!(item in FLOATS)) throw new ValueError(`unknown $float ${JSON.stringify(item)}`);
      return FLOATS[item];
    default:
      return new Map(item);
  }
}

function dumps(value) {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The payload of a call: `[args, kwargs]`. */
function encodeCall(args, kwargs, where) {
  const wireArgs = args.map((a, i) => toWire(a, `${where}: args[${i}]`));
  const wireKwargs = {};
  for (const [k, v] of Object.entries(kwargs)) wireKwargs[k] = toWire(v, `${where}: kwargs[${k}]`);
  return dumps([wireArgs, wireKwargs]);
}

/** The payload of a result. */
function encodeValue(value, where) {
  return dumps(toWire(value, where));
}

/** A payload back into JS values (the inverse of the encoders, and of values.py's). */
function decode(payload) {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  return text.includes('"$') ? JSON.parse(text, untag) : JSON.parse(text);
}

module.exports = { ValueError, toWire, encodeCall, encodeValue, decode };
