#!/usr/bin/python3
"""PyTorch 1.13 side of bench_model: the same GPT-2 configs, training tokens/s (forward +
backward + AdamW, batch 4 x 256) and KV-cached sampling tokens/s at batch 1 and 64 (1-token
prompt, 64 new tokens). Prints JSON.
Run: OPENBLAS_CORETYPE= /usr/bin/python3 tests/bench/model_torch_bench.py [iters [threads]]
threads: 0 (default) = 1 and 2, else only that count. tests/bench/run_model_bench.sh runs this
side by side with bench_model and prints the ratios."""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

B, T, NEW, V, VP = 4, 256, 64, 257, 384


class GPT(torch.nn.Module):
    def __init__(self, L, C, NH):
        super().__init__()
        self.L, self.C, self.NH = L, C, NH
        self.wte = torch.nn.Parameter(0.02 * torch.randn(VP, C))
        self.wpe = torch.nn.Parameter(0.02 * torch.randn(T, C))
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            m = torch.nn.ModuleDict(dict(ln1=torch.nn.LayerNorm(C), qkv=torch.nn.Linear(C, 3 * C),
                                         proj=torch.nn.Linear(C, C), ln2=torch.nn.LayerNorm(C),
                                         fc=torch.nn.Linear(C, 4 * C), fcp=torch.nn.Linear(4 * C, C)))
            self.blocks.append(m)
        self.lnf = torch.nn.LayerNorm(C)

    def forward(self, idx, pos0=0, cache=None):
        Bn, Tn = idx.shape
        C, NH = self.C, self.NH
        hs = C // NH
        x = self.wte[idx] + self.wpe[pos0:pos0 + Tn]
        for l, m in enumerate(self.blocks):
            q, k, v = m['qkv'](m['ln1'](x)).split(C, dim=-1)
            q, k, v = [t.view(Bn, Tn, NH, hs).transpose(1, 2) for t in (q, k, v)]
            if cache is not None:
                if pos0 > 0:
                    k = torch.cat([cache[l][0], k], 2)
                    v = torch.cat([cache[l][1], v], 2)
                cache[l] = (k, v)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            if Tn > 1:
                mask = torch.tril(torch.ones(Tn, k.shape[2], dtype=torch.bool), diagonal=k.shape[2] - Tn)
                att = att.masked_fill(~mask, float('-inf'))
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(Bn, Tn, C)
            x = x + m['proj'](y)
            x = x + m['fcp'](F.gelu(m['fc'](m['ln2'](x)), approximate='tanh'))
        return self.lnf(x) @ self.wte.T


def bench(name, L, C, NH, threads, iters):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(L, C, NH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = torch.randint(0, 256, (B, T))
    tgt = torch.randint(0, 256, (B, T))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(idx)[..., :V].reshape(-1, V), tgt.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    step()
    t0 = time.time()
    for _ in range(iters):
        step()
    train = iters * B * T / (time.time() - t0)
    samp = {}
    with torch.no_grad():
        for n in (1, 64):
            t0 = time.time()
            for _ in range(iters):
                cache = [None] * L
                tok = torch.full((n, 1), 65)
                logits = model(tok, 0, cache)
                for p in range(1, NEW):
                    tok = torch.multinomial(logits[:, -1, :V].softmax(-1), 1)
                    logits = model(tok, p, cache)
            samp[n] = iters * n * NEW / (time.time() - t0)
    return dict(config=name, threads=threads, train_tokens_per_s=round(train, 1),
                sample_tokens_per_s_b1=round(samp[1], 1), sample_tokens_per_s_b64=round(samp[64], 1))


if __name__ == '__main__':
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    only = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    out = [bench(n, L, C, NH, th, iters) for (n, L, C, NH) in (('tiny', 4, 128, 4), ('small', 6, 384, 6))
           for th in (1, 2) if only in (0, th)]
    print(json.dumps(dict(torch=torch.__version__, iters=iters, results=out), indent=1))
