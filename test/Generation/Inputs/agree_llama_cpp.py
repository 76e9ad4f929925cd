"""Greedy continuations of onebit-generate (KV cache) against llama.cpp
(llama-cpp-python) on the same GGUF: for each prompt, both continue the
same token ids for N tokens; they must agree on every token, or diverge only
at a near-tie (where llama.cpp's logits of the two choices differ by less
than --tie), which is printed.
usage: agree_llama_cpp.py ONEBIT_GENERATE MODEL.gguf [--tokens N]
       [--tie T] [--work DIR] PROMPT...
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("generate")
    ap.add_argument("model")
    ap.add_argument("prompts", nargs="+")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--tie", type=float, default=0.05)
    ap.add_argument("--work", default=".")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    from llama_cpp import Llama
    llm = Llama(model_path=a.model, logits_all=True, verbose=False,
                n_ctx=256, n_threads=2)
    failed = 0
    for i, prompt in enumerate(a.prompts):
        ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        ref, ref_logits = [], []
        for _ in range(a.tokens):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            t = int(np.argmax(row))
            ref.append(t)
            ref_logits.append(row)
            llm.eval([t])
        out = subprocess.run(
            [a.generate, a.model, "--prompt-ids", ",".join(map(str, ids)),
             "--max-tokens", str(a.tokens), "--temperature", "0", "--ids",
             "--threads", "2"],
            check=True, capture_output=True, text=True).stdout.split()
        ours = [int(x) for x in out]
        n = min(len(ours), len(ref))
        agree = next((k for k in range(n) if ours[k] != ref[k]), n)
        status = "ok"
        if agree < a.tokens:
            if agree < len(ours):
                row = ref_logits[agree]
                gap = row[ref[agree]] - row[ours[agree]]
                if gap < a.tie:
                    status = (f"near-tie at token {agree}: llama.cpp scores "
                              f"ours {gap:.4f} below its choice")
                else:
                    status = (f"DIVERGED at token {agree}: llama.cpp scores "
                              f"ours {gap:.4f} below its choice")
                    failed += 1
            elif ours and ours[-1] == llm.token_eos():
                # onebit-generate stops after EOS (--ids prints it); llama.cpp
                # chose the same EOS there and went on.
                status = f"ok, both end the text (EOS) at token {agree - 1}"
            else:
                status = f"DIVERGED: onebit stopped after {len(ours)} tokens"
                failed += 1
        print(f"prompt {i}: {len(ids)} prompt tokens, agree on {agree} of "
              f"{a.tokens} generated: {status}")
    print("agree-llama-cpp: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
