# average llm.c v3 model files (same shape): python3 avg.py OUT IN1 IN2 ...
import sys, array
out, ins = sys.argv[1], sys.argv[2:]
hdr = None; acc = None
for p in ins:
    b = open(p, 'rb').read()
    h, body = b[:1024], b[1024:]
    if hdr is None: hdr = h
    assert h == hdr, p
    a = array.array('f'); a.frombytes(body)
    if acc is None: acc = array.array('d', a)
    else:
        for i in range(len(a)): acc[i] += a[i]
n = len(ins)
res = array.array('f', (x / n for x in acc))
open(out, 'wb').write(hdr + res.tobytes())
