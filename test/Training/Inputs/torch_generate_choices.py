"""PyTorch references for onebit-eval --generate and --choices on the tiny
LLaMA of test/e2e/models.py (batch 2, seq 8, vocab 64: byte tokens < 64,
i.e. digits, space and punctuation). Writes the items file and prints the
greedy continuation and the expected accuracy."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "e2e"))
import models  # noqa: E402

model = models.build("llama", 0)
seq = 8


def logits(tokens):
    window = tokens[-seq:]
    ids = torch.zeros((2, seq), dtype=torch.int64)
    ids[0, :len(window)] = torch.tensor(window)
    with torch.no_grad():
        return model(ids)[0, :len(window)]


toks = list(b"12")
for _ in range(10):
    toks.append(int(logits(toks)[-1].argmax()))
print("torch greedy:", bytes(toks).decode())

items = [("0123", ["45", "?!", "9"], 0), ("55", ["6", "7", "8"], 2),
         ("9876", ["543", "000"], 1), ("1", ["2", "3"], 0)]
correct = 0
with open(sys.argv[1], "w") as f:
    for ctx, choices, answer in items:
        f.write(json.dumps({"context": ctx, "choices": choices,
                            "answer": answer}) + "\n")
        scores = []
        for c in choices:
            all_t = list(ctx.encode()) + list(c.encode())
            all_t = all_t[-seq:]
            lp = torch.log_softmax(logits(all_t), -1)
            first = len(all_t) - len(c)
            scores.append(sum(float(lp[p - 1, all_t[p]])
                              for p in range(first, len(all_t))))
        correct += max(range(len(choices)), key=lambda i: scores[i]) == answer
print(f"torch accuracy: {correct / len(items):.4f} ({correct} of {len(items)})")
