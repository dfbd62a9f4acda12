/**
 * `@lezer/python` 1.1 rejects float literals written with a trailing dot (`x = 0.`,
 * `[0. for i in r]`), which Python accepts. Before parsing, such literals outside strings and
 * comments get a `0` appended (`0.` -> `0.0`): the same value, and every line keeps its number.
 */

const IDENT = /[A-Za-z0-9_]/;

/** `text` with every trailing-dot float literal completed (`1.` -> `1.0`). */
export function completeTrailingDotFloats(text: string): string {
  if (!/[0-9]\./.test(text)) {
    return text;
  }
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i];
    if (ch === '#') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const triple = text.startsWith(ch.repeat(3), i);
      const quote = triple ? ch.repeat(3) : ch;
      i += quote.length;
      while (i < n && !text.startsWith(quote, i)) {
        if (!triple && text[i] === '\n') {
          break; // unterminated single-quoted string: stop at the line end
        }
        i += text[i] === '\\' ? 2 : 1;
      }
      i += quote.length;
      continue;
    }
    if (ch >= '0' && ch <= '9' && (i === 0 || !/[A-Za-z0-9_.]/.test(text[i - 1]))) {
      let j = i;
      while (j < n && /[0-9_]/.test(text[j])) {
        j++;
      }
      if (text[j] === '.' && (j + 1 >= n || !(IDENT.test(text[j + 1]) || text[j + 1] === '.'))) {
        out += `${text.slice(last, j + 1)}0`;
        last = j + 1;
      }
      i = j + 1;
      continue;
    }
    i++;
  }
  return out + text.slice(last);
}
