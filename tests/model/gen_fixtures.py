#!/usr/bin/python3
"""Write the PyTorch parity fixtures for tests/model/test_model_parity.c.

Run with Debian's python3-torch (no downloads):  /usr/bin/python3 tests/model/gen_fixtures.py
It builds a tiny GPT-2 (L=2, C=32, NH=4, context 16, byte vocabulary 257 padded to 384) with
random weights, written independently of the C code from the GPT-2 definition, computed in
float64 as the reference, and writes into tests/model/fixtures/:
  parity_model.bin  the weights as an llm.c version 3 checkpoint (fp32)
  parity_data.bin   int32 header [magic 0x50415259 'PARY', version 1, B, T, V, Vp, num_params, steps]
                    then tokens (B*T int32), targets (B*T int32), weights (B*T f32),
                    logits (B*T*V f32), loss (f64), logprob (B f64), grads (num_params f32, llm.c order),
                    grad norms before clipping for each AdamW step (steps f64),
                    params after the steps (num_params f32).
AdamW: lr 1e-2, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on wte, wpe, qkvw, attprojw, fcw,
fcprojw only; gradients clipped to global norm 1.0 before each step; same batch every step.

The same two files again with ALiBi instead of learned positions (L=2, C=36, NH=6: six heads
take the slopes' non-power-of-two branch), header slot 8 = 1 and wpe zero, as the C code keeps it:
  parity_alibi_model.bin, parity_alibi_data.bin
The slopes come from the ALiBi paper's reference formula, written here independently.

It also writes a GPT-2-vocabulary model (L=2, C=8, NH=2, context 96, vocabulary 50,257 padded
to 50,304, tied embeddings, the padded rows random: they must never matter) for
tests/model/test_model_gpt2vocab.c and the engine's GPT-2 tests:
  gpt2vocab_model.bin  llm.c version 5 (bf16; the weights are bf16-exact, so fp32 loses nothing)
  gpt2vocab_data.bin   int32 header [magic 0x32545047 'GPT2', version 1, T, V, Vp] then tokens
                       (T int32), targets (T int32; the last is <|endoftext|> 50256), logits
                       (T*V f32), loss (f64, the mean over the T positions).
"""
import math
import os
import struct

import torch
import torch.nn.functional as F

L, C, NH, MAXT, V, VP = 2, 32, 4, 16, 257, 384
B, T, STEPS = 2, 12, 3
torch.manual_seed(1234)
dt = torch.float64

shapes = [(VP, C), (MAXT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
          (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,)]
DECAY = {0, 1, 4, 6, 10, 12}
LN_W = {2, 8, 14}


def init():
    ps = []
    for i, s in enumerate(shapes):
        if i in LN_W:
            p = 1.0 + 0.1 * torch.randn(s, dtype=dt)
        elif i in DECAY:
            p = 0.15 * torch.randn(s, dtype=dt)
        else:
            p = 0.05 * torch.randn(s, dtype=dt)
        if i == 0:
            p[V:] = 0.0
        ps.append(p.float().double().requires_grad_(True))  # exactly representable in fp32
    return ps


def alibi_slopes(n):
    """Press et al.'s get_slopes: a geometric series from 2^(-8/n) for a power of two n;
    otherwise the series of the largest power of two below n, then every other one of twice it."""
    def pow2(m):
        start = 2 ** (-2 ** -(math.log2(m) - 3))
        return [start * start ** i for i in range(m)]
    if math.log2(n).is_integer():
        return pow2(n)
    p = 2 ** math.floor(math.log2(n))
    return pow2(p) + alibi_slopes(2 * p)[0::2][:n - p]


def forward(ps, tokens, targets, weights, alibi=False):
    wte, wpe, ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b, fcw, fcb, fpw, fpb, lnfw, lnfb = ps
    hs = C // NH
    x = wte[tokens] if alibi else wte[tokens] + wpe[:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    pos = torch.arange(T, dtype=dt)
    # bias[h, t, j] = -slope_h * (t - j)  (future keys are masked anyway)
    bias = (-torch.tensor(alibi_slopes(NH), dtype=dt).view(NH, 1, 1) * (pos.view(T, 1) - pos.view(1, T))
            if alibi else 0.0)
    for l in range(L):
        h = F.layer_norm(x, (C,), ln1w[l], ln1b[l], 1e-5)
        qkv = h @ qkvw[l].T + qkvb[l]
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = [t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs) + bias
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ apw[l].T + apb[l]
        h = F.layer_norm(x, (C,), ln2w[l], ln2b[l], 1e-5)
        h = F.gelu(h @ fcw[l].T + fcb[l], approximate='tanh')
        x = x + h @ fpw[l].T + fpb[l]
    x = F.layer_norm(x, (C,), lnfw, lnfb, 1e-5)
    logits = (x @ wte.T)[..., :V]
    lp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -(weights * lp).sum()
    logprob = (lp * (weights != 0)).sum(-1)
    return logits, loss, logprob


def configure(c, nh):
    global C, NH, shapes
    C, NH = c, nh
    shapes = [(VP, C), (MAXT, C), (L, C), (L, C), (L, 3 * C, C), (L, 3 * C), (L, C, C), (L, C),
              (L, C), (L, C), (L, 4 * C, C), (L, 4 * C), (L, C, 4 * C), (L, C), (C,), (C,)]


def main(prefix='parity', alibi=False):
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
    os.makedirs(here, exist_ok=True)
    ps = init()
    if alibi:
        with torch.no_grad():
            ps[1].zero_()  # wpe: unused under ALiBi, kept at zero
    text = b"The quick brown fox jumps over the lazy dog. 12+7=19"
    tokens = torch.tensor([list(text[0:T]), list(text[20:20 + T])], dtype=torch.long)
    targets = torch.tensor([list(text[1:T + 1]), list(text[21:21 + T])], dtype=torch.long)
    targets[1, -1] = 256  # end-of-text as a target
    weights = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                            [0.5, -0.25, 1.5, 0, 2, 1, 1, 1, 0.75, 0, 0, 0]], dtype=dt)
    logits, loss, logprob = forward(ps, tokens, targets, weights, alibi)
    loss.backward()
    grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in ps]

    with open(os.path.join(here, prefix + '_model.bin'), 'wb') as f:
        hdr = [20240326, 3, MAXT, V, L, NH, C, VP, int(alibi)] + [0] * 247
        f.write(struct.pack('<256i', *hdr))
        for p in ps:
            f.write(p.detach().float().contiguous().numpy().tobytes())

    opt = torch.optim.AdamW([
        {'params': [p for i, p in enumerate(ps) if i in DECAY], 'weight_decay': 0.1},
        {'params': [p for i, p in enumerate(ps) if i not in DECAY], 'weight_decay': 0.0},
    ], lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    norms = []
    for _ in range(STEPS):
        opt.zero_grad()
        _, l2, _ = forward(ps, tokens, targets, weights, alibi)
        l2.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(ps, 1.0)))
        opt.step()

    nparams = sum(p.numel() for p in ps)
    with open(os.path.join(here, prefix + '_data.bin'), 'wb') as f:
        f.write(struct.pack('<8i', 0x50415259, 1, B, T, V, VP, nparams, STEPS))
        f.write(tokens.int().numpy().tobytes())
        f.write(targets.int().numpy().tobytes())
        f.write(weights.float().numpy().tobytes())
        f.write(logits.detach().float().contiguous().numpy().tobytes())
        f.write(struct.pack('<d', float(loss)))
        f.write(struct.pack('<%dd' % B, *logprob.tolist()))
        for g in grads:
            f.write(g.float().contiguous().numpy().tobytes())
        f.write(struct.pack('<%dd' % STEPS, *norms))
        for p in ps:
            f.write(p.detach().float().contiguous().numpy().tobytes())
    print(prefix, 'loss', float(loss), 'logprob', logprob.tolist(), 'norms', norms, 'params', nparams)


def gpt2vocab(here):
    """A tiny model with GPT-2's vocabulary, as llm.c's version 5 (bf16) file."""
    gL, gC, gNH, gT, gV, gVP = 2, 8, 2, 96, 50257, 50304
    g = torch.Generator().manual_seed(50257)
    shp = [(gVP, gC), (gT, gC), (gL, gC), (gL, gC), (gL, 3 * gC, gC), (gL, 3 * gC), (gL, gC, gC), (gL, gC),
           (gL, gC), (gL, gC), (gL, 4 * gC, gC), (gL, 4 * gC), (gL, gC, 4 * gC), (gL, gC), (gC,), (gC,)]
    ps = []
    for i, s_ in enumerate(shp):
        base = 1.0 if i in LN_W else 0.0
        p = base + (0.3 if i in DECAY else 0.1) * torch.randn(s_, generator=g, dtype=dt)
        ps.append(p.to(torch.bfloat16).double())  # bf16-exact
    # "Hello world, Natalia sold 48 clips" in GPT-2 ids, then end-of-text as the last target
    toks = [15496, 995, 11, 14332, 494, 3520, 4764, 19836, 50255]
    tokens = torch.tensor(toks[:-1], dtype=torch.long)
    targets = torch.tensor(toks[1:-1] + [50256], dtype=torch.long)
    wte, wpe, ln1w, ln1b, qkvw, qkvb, apw, apb, ln2w, ln2b, fcw, fcb, fpw, fpb, lnfw, lnfb = ps
    T_ = len(tokens)
    hs = gC // gNH
    x = wte[tokens] + wpe[:T_]
    mask = torch.tril(torch.ones(T_, T_, dtype=torch.bool))
    for l in range(gL):
        h = F.layer_norm(x, (gC,), ln1w[l], ln1b[l], 1e-5)
        q, k, v = (h @ qkvw[l].T + qkvb[l]).split(gC, dim=-1)
        q, k, v = [t.view(T_, gNH, hs).transpose(0, 1) for t in (q, k, v)]
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(hs)).masked_fill(~mask, float('-inf')).softmax(-1)
        x = x + (att @ v).transpose(0, 1).reshape(T_, gC) @ apw[l].T + apb[l]
        h = F.layer_norm(x, (gC,), ln2w[l], ln2b[l], 1e-5)
        x = x + F.gelu(h @ fcw[l].T + fcb[l], approximate='tanh') @ fpw[l].T + fpb[l]
    x = F.layer_norm(x, (gC,), lnfw, lnfb, 1e-5)
    logits = (x @ wte.T)[:, :gV]  # tied: the LM head is wte; padded rows never predicted
    loss = F.cross_entropy(logits, targets)
    with open(os.path.join(here, 'gpt2vocab_model.bin'), 'wb') as f:
        f.write(struct.pack('<256i', *([20240326, 5, gT, gV, gL, gNH, gC, gVP] + [0] * 248)))
        for p in ps:
            f.write(p.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes())
    with open(os.path.join(here, 'gpt2vocab_data.bin'), 'wb') as f:
        f.write(struct.pack('<5i', 0x32545047, 1, T_, gV, gVP))
        f.write(tokens.int().numpy().tobytes())
        f.write(targets.int().numpy().tobytes())
        f.write(logits.float().contiguous().numpy().tobytes())
        f.write(struct.pack('<d', float(loss)))
    print('gpt2vocab loss', float(loss))


if __name__ == '__main__':
    main()
    gpt2vocab(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures'))
    torch.manual_seed(4321)  # after the others, so their files stay byte-identical
    configure(36, 6)
    main('parity_alibi', alibi=True)
