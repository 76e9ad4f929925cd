"""Writes 100 random token ids and prints PyTorch's perplexity of the tiny
LLaMA of test/e2e/models.py on them (windows of 8, GPTQ protocol)."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "e2e"))
import models  # noqa: E402

tokens = np.random.default_rng(0).integers(0, 64, size=100).astype(np.int64)
np.save(sys.argv[1], tokens)
model = models.build("llama", 0)
n = len(tokens) // 8
windows = torch.tensor(tokens[: n * 8].reshape(n, 8))
with torch.no_grad():
    logp = torch.log_softmax(model(windows), -1)[:, :-1]
nll = -logp.gather(-1, windows[:, 1:, None]).mean()
print(f"torch perplexity: {float(torch.exp(nll)):.2f}")
