// The class of every code point under the regex engine of this node, as the GPT-2 regex sees
// it: L (\p{L}), N (\p{N}), S (\s) or . (other). First line: node's Unicode version.
// Usage: node tests/tok/js_classes.js > classes.txt
'use strict'
const out = []
for (let cp = 0; cp <= 0x10ffff; cp++) {
  const ch = String.fromCodePoint(cp)
  out.push(/\p{L}/u.test(ch) ? 'L' : /\p{N}/u.test(ch) ? 'N' : /\s/u.test(ch) ? 'S' : '.')
}
process.stdout.write(process.versions.unicode + '\n' + out.join('') + '\n')
