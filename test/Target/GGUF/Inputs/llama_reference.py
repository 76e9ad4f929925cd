"""An independent numpy forward pass of a GGUF llama model, for checking the
GGUF importer: weights decoded by the `gguf` package, math in float64.
usage: llama_reference.py MODEL.gguf IDS.npy OUT.npy [--layers N]
IDS is int64 [batch, seq]; OUT gets float32 logits [batch, seq, vocab].
"""
import argparse

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("ids")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=-1)
    a = ap.parse_args()
    r = GGUFReader(a.model)

    def meta(key, default=None):
        if key not in r.fields:
            return default
        f = r.fields[key]
        return f.parts[f.data[0]][0]

    tensors = {t.name: t for t in r.tensors}

    def W(name):
        t = tensors[name]
        w = dequantize(t.data, t.tensor_type).astype(np.float64)
        return w.reshape([int(d) for d in reversed(t.shape)]) if w.ndim == 1 and len(t.shape) > 1 else w

    n_layers = int(meta("llama.block_count"))
    if a.layers >= 0:
        n_layers = a.layers
    heads = int(meta("llama.attention.head_count"))
    kv = int(meta("llama.attention.head_count_kv", heads))
    eps = float(meta("llama.attention.layer_norm_rms_epsilon"))
    base = float(meta("llama.rope.freq_base", 10000.0))

    ids = np.load(a.ids)
    B, S = ids.shape
    emb = W("token_embd.weight")
    D = emb.shape[1]
    hd = D // heads
    x = emb[ids]  # [B, S, D]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    inv = base ** (-2.0 * np.arange(hd // 2) / hd)
    ang = np.arange(S)[:, None] * inv[None, :]  # [S, hd/2]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(v):  # v: [B, S, H, hd], adjacent pairs
        x0, x1 = v[..., 0::2], v[..., 1::2]
        c, s = cos[None, :, None, :], sin[None, :, None, :]
        out = np.empty_like(v)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    mask = np.triu(np.full((S, S), -np.inf), 1)
    for i in range(n_layers):
        p = f"blk.{i}."
        h = rms(x, W(p + "attn_norm.weight"))
        q = (h @ W(p + "attn_q.weight").T).reshape(B, S, heads, hd)
        k = (h @ W(p + "attn_k.weight").T).reshape(B, S, kv, hd)
        v = (h @ W(p + "attn_v.weight").T).reshape(B, S, kv, hd)
        q, k = rope(q), rope(k)
        g = heads // kv
        k = np.repeat(k, g, axis=2)
        v = np.repeat(v, g, axis=2)
        sc = np.einsum("bshd,bthd->bhst", q, k) / np.sqrt(hd) + mask
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        pr = sc / sc.sum(-1, keepdims=True)
        o = np.einsum("bhst,bthd->bshd", pr, v).reshape(B, S, D)
        x = x + o @ W(p + "attn_output.weight").T
        h = rms(x, W(p + "ffn_norm.weight"))
        gt = h @ W(p + "ffn_gate.weight").T
        up = h @ W(p + "ffn_up.weight").T
        x = x + (gt / (1 + np.exp(-gt)) * up) @ W(p + "ffn_down.weight").T
    x = rms(x, W("output_norm.weight"))
    head = W("output.weight") if "output.weight" in tensors else emb
    np.save(a.out, (x @ head.T).astype(np.float32))


if __name__ == "__main__":
    main()
