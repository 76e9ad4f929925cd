#!/usr/bin/env python3
"""Tiny LLaMA- and GPT-2-style decoders in PyTorch, exported with torch.onnx.

Used by the importer tests (test/Target/ONNX) and by numeric end-to-end
tests: `export(...)` writes the ONNX file and returns the torch module so a
test can compare the compiled model's outputs with `module(ids)`.

usage: models.py {llama,gpt2} OUT.onnx [--opset N] [--dynamic]
                 [--seq S] [--batch B] [--inputs IDS.npy --outputs REF.npy]
"""
import argparse
import math

import numpy as np
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim) + 0.1 * torch.randn(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2).float()
                               / self.head_dim))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, x):
        b, s, d = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        t = torch.arange(s, dtype=torch.float32)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        mask = torch.triu(torch.full((s, s), float("-inf")), diagonal=1)
        probs = torch.softmax(scores + mask, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.self_attn = LlamaAttention(dim, heads)
        self.post_attention_layernorm = RMSNorm(dim)
        self.mlp = LlamaMLP(dim, hidden)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, vocab=64, dim=32, heads=4, hidden=64, layers=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(LlamaLayer(dim, heads, hidden)
                                    for _ in range(layers))
        self.norm = RMSNorm(dim)

    def forward(self, input_ids):
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.model = LlamaModel(**kw)
        self.lm_head = nn.Linear(self.model.embed_tokens.embedding_dim,
                                 self.model.embed_tokens.num_embeddings,
                                 bias=False)

    def forward(self, input_ids):
        # Calling self.model gives torch.onnx the HF scope names
        # (/model/layers.0/self_attn/q_proj/MatMul).
        return self.lm_head(self.model(input_ids))


class GPT2Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(dim)
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.mlp_proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, s, d = x.shape
        hd = d // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q = q.view(b, s, self.heads, hd).transpose(1, 2)
        k = k.view(b, s, self.heads, hd).transpose(1, 2)
        v = v.view(b, s, self.heads, hd).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        causal = torch.tril(torch.ones(s, s, dtype=torch.bool))
        att = torch.where(causal, att, torch.tensor(-1e9))
        y = torch.matmul(torch.softmax(att, -1), v)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, s, d))
        h = nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp_proj(h)


class GPT2LMHead(nn.Module):
    def __init__(self, vocab=64, dim=32, heads=4, layers=2, positions=32):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(positions, dim)
        self.h = nn.ModuleList(GPT2Block(dim, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)

    def forward(self, input_ids):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        # Tied head: logits = x @ wte^T.
        return torch.matmul(self.ln_f(x), self.wte.weight.t())


def build(kind, seed=0):
    torch.manual_seed(seed)
    model = {"llama": LlamaForCausalLM, "gpt2": GPT2LMHead}[kind]()
    return model.eval()


def export(kind, path, opset=17, dynamic=False, batch=1, seq=8, seed=0):
    """Exports `kind` to `path`; returns (module, example input ids)."""
    model = build(kind, seed)
    ids = torch.randint(0, 64, (batch, seq), generator=torch.Generator()
                        .manual_seed(seed + 1))
    axes = {"input_ids": {0: "batch", 1: "seq"},
            "logits": {0: "batch", 1: "seq"}} if dynamic else None
    with torch.no_grad():
        torch.onnx.export(model, (ids,), path, input_names=["input_ids"],
                          output_names=["logits"], opset_version=opset,
                          dynamic_axes=axes, do_constant_folding=True)
    return model, ids


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["llama", "gpt2"])
    p.add_argument("out")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--dynamic", action="store_true")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=8)
    p.add_argument("--inputs", help="write the example ids (.npy)")
    p.add_argument("--outputs", help="write torch's logits (.npy)")
    a = p.parse_args()
    model, ids = export(a.kind, a.out, a.opset, a.dynamic, a.batch, a.seq)
    if a.inputs:
        np.save(a.inputs, ids.numpy())
    if a.outputs:
        with torch.no_grad():
            np.save(a.outputs, model(ids).numpy())


if __name__ == "__main__":
    main()
