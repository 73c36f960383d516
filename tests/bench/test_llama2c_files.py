#!/usr/bin/python3
"""test_llama2c_files - llama2c_files writes a checkpoint and a tokenizer that run.c can read:
the checkpoint is exactly the header plus the weights run.c maps (memory_map_weights at
llama2.c 350e04f) plus the two unused RoPE tables, and the tokenizer holds exactly 259 pieces
with BOS at 1 and byte b at 3 + b. No timing. Usage: test_llama2c_files.py path/to/llama2c_files"""
import json, os, struct, subprocess, sys, tempfile

exe = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    ck, tk = os.path.join(d, 'model.bin'), os.path.join(d, 'tok.bin')
    for args, params in (([], 10721280), (['64', '2', '4', '160', '32', '3'], None)):
        info = json.loads(subprocess.run([exe, ck, tk, *args], check=True, capture_output=True, text=True).stdout)
        dim, hid, L, nh, nkv, V, T = struct.unpack('<7i', open(ck, 'rb').read(28))
        assert (dim, hid, L, nh, nkv, V, T) == (info['dim'], info['hidden_dim'], info['n_layers'], info['n_heads'],
                                               info['n_kv_heads'], info['vocab_size'], info['seq_len']), info
        assert V == 259 and nkv == nh, (V, nkv, nh)
        n = V * dim + L * dim * 2 + 4 * L * dim * dim + 3 * L * dim * hid + dim
        assert info['params'] == n, (info['params'], n)
        if params is not None:
            assert n == params, n
        size = os.path.getsize(ck)
        assert size == 28 + 4 * (n + T * (dim // nh)) == info['checkpoint_bytes'], (size, n)
        raw = open(tk, 'rb').read()
        maxlen, = struct.unpack_from('<i', raw, 0)
        off, pieces = 4, []
        for _ in range(V):
            _score, ln = struct.unpack_from('<fi', raw, off)
            assert 0 < ln <= maxlen, ln
            pieces.append(raw[off + 8:off + 8 + ln])
            off += 8 + ln
        assert off == len(raw) == info['tokenizer_bytes'], (off, len(raw))
        assert pieces[:3] == [b'<unk>', b'<s>', b'</s>'], pieces[:3]
        assert pieces[3 + ord('A')] == b'A' and pieces[3 + 0x20] == b'\\x20' and pieces[3 + 0xff] == b'\\xff'
        assert len(set(pieces)) == V
print('ok')
