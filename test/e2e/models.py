#!/usr/bin/env python3
"""Tiny LLaMA- and GPT-2-style decoders in PyTorch, exported with torch.onnx.

Used by the importer tests (test/Target/ONNX) and by numeric end-to-end
tests: `export(...)` writes the ONNX file and returns the torch module so a
test can compare the compiled model's outputs with `module(ids)`.

With --past, the decoders take past keys and values and return present
ones, as torch.onnx exports a model called with past_key_values (inputs
input_ids, past_key_values.{i}.key/value [batch, kv_heads, past, head_dim];
outputs logits, present.{i}.key/value). The LLaMA variant has grouped-query
attention (the KV heads are expanded/repeated to the query heads) and HF's
causal mask (Expand to a shape that depends on the past length); both compute
RoPE/position embeddings and the causal mask from the past length.
`greedy(...)` is torch's own cached greedy loop on them.

usage: models.py {llama,gpt2} OUT.onnx [--opset N] [--dynamic]
                 [--past [--hf-inputs] [--layers N]]
                 [--seq S] [--batch B] [--inputs IDS.npy --outputs REF.npy]
       models.py {llama,gpt2} --greedy-ids 1,2,3 --max-tokens N
                 [--hf-inputs] [--layers N]
                 --ids-out IDS.txt --logits-out LOGITS.npy
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

    def split_heads(self, x):
        """q, k, v of x split into heads: [b, heads, s, hd] each."""
        b, s, d = x.shape
        hd = d // self.heads
        return (t.view(b, s, self.heads, hd).transpose(1, 2)
                for t in self.c_attn(self.ln_1(x)).split(d, dim=2))

    def forward(self, x):
        b, s, d = x.shape
        hd = d // self.heads
        q, k, v = self.split_heads(x)
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


def repeat_kv(x, n_rep):
    """[b, kvh, s, hd] -> [b, kvh * n_rep, s, hd], as HF LLaMA does it."""
    b, kvh, s, hd = x.shape
    if n_rep == 1:
        return x
    x = x[:, :, None, :, :].expand(b, kvh, n_rep, s, hd)
    return x.reshape(b, kvh * n_rep, s, hd)


def causal_mask(batch, seq, past):
    """[batch, 1, seq, past + seq]: query s (at position past + s) sees keys
    0 .. past + s. Built as HF LLaMA's _make_causal_mask: a triangle of the
    new positions after zeros for the past ones, expanded to a shape that
    depends on the past length."""
    lowest = torch.finfo(torch.float32).min
    mask = torch.full((seq, seq), lowest)
    cond = torch.arange(seq)
    mask = mask.masked_fill(cond < (cond + 1).view(seq, 1), 0.0)
    mask = torch.cat([torch.zeros(seq, past), mask], dim=-1)
    return mask[None, None, :, :].expand(batch, 1, seq, past + seq)


class LlamaPastAttention(nn.Module):
    """LLaMA attention with a KV cache and grouped-query attention."""

    def __init__(self, dim, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2).float()
                               / self.head_dim))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, x, past_k, past_v, position_ids=None,
                attention_mask=None):
        b, s, d = x.shape
        hd = self.head_dim
        q = self.q_proj(x).view(b, s, self.heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv_heads, hd).transpose(1, 2)
        past = past_k.shape[2]
        if position_ids is None:
            t = torch.arange(past, past + s, dtype=torch.float32)
            freqs = torch.einsum("i,j->ij", t, self.inv_freq)
        else:
            # HF: RoPE at the given positions, per sequence.
            freqs = (position_ids.float().unsqueeze(-1) * self.inv_freq
                     ).unsqueeze(1)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat((past_k, k), dim=2)
        v = torch.cat((past_v, v), dim=2)
        present = (k, v)
        n_rep = self.heads // self.kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hd)
        mask = causal_mask(b, s, past)
        if attention_mask is not None:
            # HF's padding mask [batch, past + seq]: 0 hides a position.
            pad = attention_mask[:, None, None, :] == 0
            mask = mask.masked_fill(pad, torch.finfo(torch.float32).min)
        probs = torch.softmax(scores + mask, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        return self.o_proj(out), present


class LlamaPastLayer(nn.Module):
    def __init__(self, dim, heads, kv_heads, hidden):
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.self_attn = LlamaPastAttention(dim, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(dim)
        self.mlp = LlamaMLP(dim, hidden)

    def forward(self, x, past_k, past_v, position_ids=None,
                attention_mask=None):
        a, present = self.self_attn(self.input_layernorm(x), past_k, past_v,
                                    position_ids, attention_mask)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), present


class LlamaPastModel(nn.Module):
    def __init__(self, vocab, dim, heads, kv_heads, hidden, layers):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(
            LlamaPastLayer(dim, heads, kv_heads, hidden)
            for _ in range(layers))
        self.norm = RMSNorm(dim)

    def forward(self, input_ids, past, position_ids=None,
                attention_mask=None):
        x = self.embed_tokens(input_ids)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, past[2 * i], past[2 * i + 1], position_ids,
                               attention_mask)
            presents.extend(present)
        return self.norm(x), presents


class LlamaPastForCausalLM(nn.Module):
    """forward(input_ids, k0, v0, k1, v1, ...) -> (logits, k0', v0', ...);
    with hf_inputs, forward(input_ids, attention_mask, position_ids, k0, ...)
    as HF's and optimum's exports take them."""

    def __init__(self, vocab=64, dim=32, heads=4, kv_heads=2, hidden=64,
                 layers=2):
        super().__init__()
        self.model = LlamaPastModel(vocab, dim, heads, kv_heads, hidden,
                                    layers)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.cache_heads, self.head_dim = kv_heads, dim // heads
        self.hf_inputs = False

    def forward(self, input_ids, *args):
        if self.hf_inputs:
            mask, positions, past = args[0], args[1], args[2:]
            x, presents = self.model(input_ids, past, positions, mask)
        else:
            x, presents = self.model(input_ids, args)
        return (self.lm_head(x), *presents)


class GPT2PastBlock(GPT2Block):
    """GPT-2 attention with a KV cache: the causal mask is a slice of a
    lower-triangular buffer at the past length, as HF's GPT2Attention."""

    def __init__(self, dim, heads, positions):
        super().__init__(dim, heads)
        self.register_buffer(
            "bias", torch.tril(torch.ones(positions, positions,
                                          dtype=torch.bool))
            .view(1, 1, positions, positions), persistent=False)

    def forward(self, x, past_k, past_v):
        b, s, d = x.shape
        hd = d // self.heads
        q, k, v = self.split_heads(x)
        k = torch.cat((past_k, k), dim=-2)
        v = torch.cat((past_v, v), dim=-2)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        total = k.shape[-2]
        causal = self.bias[:, :, total - s:total, :total]
        att = torch.where(causal, att, torch.tensor(-1e9))
        y = torch.matmul(torch.softmax(att, -1), v)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, s, d))
        h = nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp_proj(h), (k, v)


class GPT2PastLMHead(nn.Module):
    """forward(input_ids, k0, v0, k1, v1, ...) -> (logits, k0', v0', ...)."""

    def __init__(self, vocab=64, dim=32, heads=4, layers=2, positions=128):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(positions, dim)
        self.h = nn.ModuleList(GPT2PastBlock(dim, heads, positions)
                               for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.cache_heads, self.head_dim = heads, dim // heads

    def forward(self, input_ids, *past):
        past_len = past[0].shape[-2]
        pos = torch.arange(past_len, past_len + input_ids.shape[1])
        x = self.wte(input_ids) + self.wpe(pos.unsqueeze(0))
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, past[2 * i], past[2 * i + 1])
            presents.extend(present)
        return (torch.matmul(self.ln_f(x), self.wte.weight.t()), *presents)


def build(kind, seed=0, past=False, hf_inputs=False, layers=2):
    torch.manual_seed(seed)
    if past:
        model = {"llama": LlamaPastForCausalLM, "gpt2": GPT2PastLMHead}[kind](
            layers=layers)
        if hf_inputs:
            assert kind == "llama", "only the LLaMA variant takes HF inputs"
            model.hf_inputs = True
    else:
        model = {"llama": LlamaForCausalLM, "gpt2": GPT2LMHead}[kind]()
    return model.eval()


def empty_past(model, batch=1, length=0):
    """Zero past keys and values of `length` positions for a --past model."""
    n = 2 * (len(model.model.layers) if hasattr(model, "model")
             else len(model.h))
    return tuple(torch.zeros(batch, model.cache_heads, length, model.head_dim)
                 for _ in range(n))


def greedy(model, prompt, max_tokens):
    """torch's cached greedy loop on a --past model: the prompt once with an
    empty cache, then one token per step with the cache carried. Returns the
    new token ids and the logits each was chosen from ([N, vocab])."""
    def extra(done, new):
        """HF inputs for `new` tokens after `done`: no padding."""
        if not getattr(model, "hf_inputs", False):
            return ()
        return (torch.ones(1, done + new, dtype=torch.long),
                torch.arange(done, done + new).unsqueeze(0))

    tokens, rows = [], []
    with torch.no_grad():
        out = model(torch.tensor([prompt]), *extra(0, len(prompt)),
                    *empty_past(model))
        for _ in range(max_tokens):
            logits, past = out[0][0, -1], out[1:]
            rows.append(logits.numpy())
            nxt = int(torch.argmax(logits))
            tokens.append(nxt)
            done = len(prompt) + len(tokens) - 1
            out = model(torch.tensor([[nxt]]), *extra(done, 1), *past)
    return tokens, np.stack(rows)


def export_past(kind, path, opset=17, seed=0, hf_inputs=False, layers=2):
    """Exports the --past variant of `kind` with dynamic batch, sequence and
    past length (with HF's attention_mask and position_ids inputs when
    `hf_inputs`); returns the module."""
    model = build(kind, seed, past=True, hf_inputs=hf_inputs, layers=layers)
    ids = torch.randint(0, 64, (2, 3), generator=torch.Generator()
                        .manual_seed(seed + 1))
    past = empty_past(model, batch=2, length=5)
    hf = (torch.ones(2, 8, dtype=torch.long),
          torch.arange(5, 8).unsqueeze(0).expand(2, 3)) if hf_inputs else ()
    layers = len(past) // 2
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers)
                  for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(layers)
                     for kv in ("key", "value")]
    axes = {"input_ids": {0: "batch", 1: "seq"},
            "logits": {0: "batch", 1: "seq"}}
    for n in past_names:
        axes[n] = {0: "batch", 2: "past"}
    for n in present_names:
        axes[n] = {0: "batch", 2: "total"}
    hf_names = ["attention_mask", "position_ids"] if hf_inputs else []
    if hf_inputs:
        axes["attention_mask"] = {0: "batch", 1: "total"}
        axes["position_ids"] = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, *hf, *past), path,
                          input_names=["input_ids"] + hf_names + past_names,
                          output_names=["logits"] + present_names,
                          opset_version=opset, dynamic_axes=axes,
                          do_constant_folding=True)
    return model


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
    p.add_argument("out", nargs="?")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--dynamic", action="store_true")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=8)
    p.add_argument("--inputs", help="write the example ids (.npy)")
    p.add_argument("--outputs", help="write torch's logits (.npy)")
    p.add_argument("--past", action="store_true",
                   help="export the with-past (KV cache) variant")
    p.add_argument("--layers", type=int, default=2,
                   help="decoder layers of the --past variants")
    p.add_argument("--hf-inputs", action="store_true",
                   help="the --past LLaMA also takes attention_mask and "
                   "position_ids")
    p.add_argument("--greedy-ids", help="prompt of torch's cached greedy "
                   "loop on the --past model (1,2,3)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--ids-out", help="the greedy tokens, space-separated")
    p.add_argument("--logits-out", help="their logits (.npy)")
    a = p.parse_args()
    if a.greedy_ids:
        prompt = [int(t) for t in a.greedy_ids.split(",")]
        tokens, logits = greedy(build(a.kind, past=True,
                                      hf_inputs=a.hf_inputs,
                                      layers=a.layers), prompt,
                                a.max_tokens)
        with open(a.ids_out, "w") as f:
            f.write(" ".join(map(str, tokens)) + "\n")
        np.save(a.logits_out, logits)
        return
    if a.out is None:
        p.error("OUT.onnx is required")
    if a.past:
        export_past(a.kind, a.out, a.opset, hf_inputs=a.hf_inputs,
                    layers=a.layers)
        return
    model, ids = export(a.kind, a.out, a.opset, a.dynamic, a.batch, a.seq)
    if a.inputs:
        np.save(a.inputs, ids.numpy())
    if a.outputs:
        with torch.no_grad():
            np.save(a.outputs, model(ids).numpy())


if __name__ == "__main__":
    main()
