"""Compares onebit-tokenize with Hugging Face `tokenizers` built from the same
GGUF vocabulary (the SmolLM2 tokenizer: individual digits + GPT-2 byte-level
BPE) on strings covering ASCII, Unicode, white-space runs, digits and code,
and checks the pre-tokenizer against the `regex` module running the GPT-2
pattern itself.
usage: tokenizer_check.py ONEBIT_TOKENIZE MODEL.gguf
"""
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

STRINGS = [
    "Hello world",
    "Hello world's  test 123, héllo!",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\n\n\nend",
    "Numbers: 3.14159, 2024-11-24, 1e-5, 100000",
    "Ünïcödé: naïve café, 日本語のテキスト, Ελληνικά, русский",
    "emoji 😀🚀 and symbols ©®™ → ∑ ≠",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "I'm sure they'll say we've done it, he'd've",
    "MIXED case WORDS and ALLCAPS",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "a" * 50 + " " + "ab" * 20,
    "",
    " ",
    "\u00a0non-breaking\u2009thin space\u3000ideographic",
]

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def build_hf_tokenizer(model):
    """The HF tokenizer equivalent to the GGUF's (SmolLM2: individual digits
    + GPT-2 byte-level BPE, control/user-defined tokens as special)."""
    r = GGUFReader(model)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(r, "tokenizer.ggml.merges")]
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0])
             for i in r.fields["tokenizer.ggml.token_type"].data]
    vocab = {t: i for i, t in enumerate(tokens)}
    hf = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([t for t, ty in zip(tokens, types) if ty in (3, 4)])
    return hf


def main():
    tool, model = sys.argv[1], sys.argv[2]
    hf = build_hf_tokenizer(model)
    import regex
    failures = 0
    for s in STRINGS:
        ours = subprocess.run([tool, model, "--text", s], capture_output=True,
                              text=True, check=True).stdout.split()
        ours = [int(x) for x in ours]
        ref = hf.encode(s).ids
        ok = ours == ref
        # Decoding gives the text back.
        dec = subprocess.run([tool, model, "--text", s, "--decode"],
                             capture_output=True, text=True, check=True).stdout
        dec = dec.split("\n", 1)[1][:-1] if "\n" in dec else ""
        ok_dec = dec == s
        # Pre-tokenizer pieces (no specials, no digits) vs the regex module.
        if "<|" not in s and not any(ch.isdigit() for ch in s):
            pieces = subprocess.run([tool, model, "--text", s, "--pieces"],
                                    capture_output=True, text=True,
                                    check=True).stdout.rstrip("\n")
            want = "".join(f"[{p}]" for p in regex.findall(GPT2_PATTERN, s))
            if pieces != want:
                print(f"FAIL pieces {s!r}: {pieces!r} != {want!r}")
                failures += 1
        if not (ok and ok_dec):
            failures += 1
            print(f"FAIL {s!r}: ours={ours} ref={ref} decoded={dec!r}")
        else:
            print(f"ok {len(ref)} tokens {s[:30]!r}")
    print(f"tokenizer-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
