'use strict';
/**
 * Keyword arguments from Python for a JS function: JS has none, so a Python caller's
 * `call("f", x, lang="fr")` binds `lang` to the parameter of that name, as Python would
 * (`function f(amount, lang)`). A name the function does not declare, a name given twice,
 * or a parameter that has no name (destructured, rest) is a TypeError naming it.
 */

/** The parameter list of `fn`'s source: the text between its first `(` and the match. */
function parameterText(source) {
  const arrow = source.match(/^(?:async\s*)?([A-Za-z_$][\w$]*)\s*=>/);
  if (arrow) return arrow[1];
  const start = source.indexOf('(');
  let depth = 0;
  for (let i = start; i < source.length; i++) {
    if ('([{'.includes(source[i])) depth++;
    else if (')]}'.includes(source[i]) && --depth === 0) return source.slice(start + 1, i);
  }
  return '';
}

/** Top-level comma-separated pieces (defaults may hold commas inside brackets). */
function splitTopLevel(text) {
  const parts = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim()) parts.push(current);
  return parts;
}

/** The declared names, in order (`null` for a parameter without a plain name). */
function parameterNames(fn) {
  const text = parameterText(Function.prototype.toString.call(fn))
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '');
  return splitTopLevel(text).map((part) => {
    const name = part.split('=')[0].trim();
    return /^[A-Za-z_$][\w$]*$/.test(name) ? name : null;
  });
}

/** The positional arguments that `args` and `kwargs` (by parameter name) amount to. */
function bindKeywords(fn, fnName, args, kwargs) {
  const names = parameterNames(fn);
  const bound = args.slice();
  for (const [key, value] of Object.entries(kwargs)) {
    const index = names.indexOf(key);
    if (index < 0) {
      throw new TypeError(`${fnName}() got an unexpected keyword argument '${key}'`);
    }
    if (index < args.length) {
      throw new TypeError(`${fnName}() got multiple values for argument '${key}'`);
    }
    bound[index] = value;
  }
  return bound;
}

module.exports = { bindKeywords, parameterNames };
