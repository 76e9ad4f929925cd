"""Compares step 1 of two train.jsonl logs (train-mse-layers.test): the same L_CE, a smaller positive L_MSE."""
import json
import sys

a, b = (json.loads(open(p).readline()) for p in sys.argv[1:3])
assert a["step"] == b["step"] == 1, (a, b)
assert abs(a["l_ce"] - b["l_ce"]) <= 1e-6 * abs(a["l_ce"]), (a, b)
assert 0 < b["l_mse"] < a["l_mse"], (a, b)
print("same l_ce, l_mse smaller without the last layer")
