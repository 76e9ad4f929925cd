"""Compares `onebit-tokenize --tokenizer tokenizer.json` with Hugging Face
`tokenizers` on a tokenizer.json that `tokenizers` itself wrote: the SmolLM2
tokenizer rebuilt from the GGUF vocabulary as in tokenizer_check.py. Checks
ids (and decoding back to the input) for the merges stored both as "a b"
strings and as ["a", "b"] pairs, the same ids as the GGUF's own tokenizer,
and a TemplateProcessing post-processor that prepends a BOS token.
usage: hf_json_check.py ONEBIT_TOKENIZE MODEL.gguf WORKDIR
"""
import copy
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_check import STRINGS, build_hf_tokenizer  # noqa: E402
from tokenizers import Tokenizer, processors  # noqa: E402

EXTRA = [
    "The capital of France is Paris.",
    "x1 = 12345678901234567890; y = x1 // 7",
    "<|endoftext|>after end<|im_end|>",
    "\t\t  \n \r\n  mixed\u2028white   space",
    "العربية עברית हिन्दी 한국어",
]


def tokenize(tool, tok, s, *extra):
    # Bytes, not text=True: universal newlines would turn "\r\n" into "\n".
    res = subprocess.run([tool, "--tokenizer", tok, "--text", s, *extra],
                         capture_output=True)
    if res.returncode != 0:
        raise SystemExit(f"{tool} failed on {s!r}: {res.stderr}")
    return res.stdout.decode("utf-8")


def check(tool, path, hf, label, strings, decode=True):
    failures = 0
    for s in strings:
        ref = hf.encode(s).ids
        ours = [int(x) for x in tokenize(tool, path, s).split()]
        ok = ours == ref
        dec = s
        if decode and ok:
            out = tokenize(tool, path, s, "--decode")
            dec = out.split("\n", 1)[1][:-1] if "\n" in out else ""
        if not ok or dec != s:
            failures += 1
            print(f"FAIL {label} {s!r}: ours={ours} ref={ref} decoded={dec!r}")
    print(f"{label}: {len(strings)} strings, {failures} failures")
    return failures


def main():
    tool, model, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    hf = build_hf_tokenizer(model)
    path = os.path.join(work, "tokenizer.json")
    hf.save(path)
    strings = STRINGS + EXTRA
    failures = check(tool, path, hf, "as saved", strings)

    # The other merges format ("a b" strings <-> ["a", "b"] pairs).
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    merges = doc["model"]["merges"]
    other = copy.deepcopy(doc)
    if merges and isinstance(merges[0], str):
        other["model"]["merges"] = [m.split(" ", 1) for m in merges]
        fmt = "pairs"
    else:
        other["model"]["merges"] = [" ".join(m) for m in merges]
        fmt = "strings"
    other_path = os.path.join(work, "tokenizer-other.json")
    with open(other_path, "w", encoding="utf-8") as f:
        json.dump(other, f, ensure_ascii=False)
    hf_other = Tokenizer.from_file(other_path)
    failures += check(tool, other_path, hf_other, "merges as " + fmt, strings,
                      decode=False)

    # Same ids as the GGUF's own tokenizer.
    for s in strings:
        a = tokenize(tool, path, s)
        b = subprocess.run([tool, model, "--text", s], capture_output=True,
                           text=True, check=True).stdout
        if a != b:
            failures += 1
            print(f"FAIL json vs gguf {s!r}: {a.strip()} != {b.strip()}")

    # A post-processor that prepends BOS (<|im_start|>).
    bos = "<|im_start|>"
    hf.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, hf.token_to_id(bos))])
    bos_path = os.path.join(work, "tokenizer-bos.json")
    hf.save(bos_path)
    failures += check(tool, bos_path, hf, "with BOS", strings[:4],
                      decode=False)

    print(f"hf-json-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
