"""Writes a small llama-architecture GGUF with random weights: the test model
of the KV-cache generation tests (grouped-query attention, an output head of
its own, F32 or F16 tensors).
usage: make_tiny_llama.py OUT.gguf [--layers N] [--dim D] [--heads H]
       [--kv-heads K] [--ffn F] [--vocab V] [--seed S] [--f16]
"""
import argparse

import numpy as np
from gguf import GGUFWriter


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--f16", action="store_true")
    ap.add_argument("--tokenizer", action="store_true",
                    help="add a byte-level BPE vocabulary (needs --vocab 258 "
                         "or more: one token per byte, EOS, 'th')")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    hd = a.dim // a.heads
    w = GGUFWriter(a.out, "llama")
    w.add_block_count(a.layers)
    w.add_context_length(a.context)
    w.add_embedding_length(a.dim)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    dt = np.float16 if a.f16 else np.float32
    if a.tokenizer:
        if a.vocab < 258:
            ap.error("--tokenizer needs --vocab 258 or more")
        # GPT-2's byte-level alphabet: printable bytes stand for themselves,
        # the others are shifted past U+0100, so every byte is one character.
        printable = (list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) +
                     list(range(0xAE, 0x100)))
        chars, extra = {}, 0
        for b in range(256):
            if b in printable:
                chars[b] = chr(b)
            else:
                chars[b] = chr(0x100 + extra)
                extra += 1
        # One merge, so that BPE has something to do ("th").
        tokens = [chars[b] for b in range(256)] + ["<eos>", "th"]
        tokens += [f"<unused{i}>" for i in range(a.vocab - len(tokens))]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_types([1] * 256 + [3, 1] + [3] * (a.vocab - 258))
        w.add_token_merges(["t h"])
        w.add_eos_token_id(256)

    def t(name, *shape, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        w.add_tensor(name, (rng.standard_normal(shape) * s).astype(dt))

    def norm(name, n):
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    t("token_embd.weight", a.vocab, a.dim, scale=1.0)
    for i in range(a.layers):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight", a.dim)
        t(p + "attn_q.weight", a.heads * hd, a.dim)
        t(p + "attn_k.weight", a.kv_heads * hd, a.dim)
        t(p + "attn_v.weight", a.kv_heads * hd, a.dim)
        t(p + "attn_output.weight", a.dim, a.heads * hd)
        norm(p + "ffn_norm.weight", a.dim)
        t(p + "ffn_gate.weight", a.ffn, a.dim)
        t(p + "ffn_up.weight", a.ffn, a.dim)
        t(p + "ffn_down.weight", a.dim, a.ffn)
    norm("output_norm.weight", a.dim)
    t("output.weight", a.vocab, a.dim)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
