"""Checks that two onebit-train JSONL logs have the same steps and losses."""
import json
import sys

a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
keys = ("step", "lr", "loss", "l_ce", "l_mse")
if [[r[k] for k in keys] for r in a] != [[r[k] for k in keys] for r in b]:
    sys.exit(f"logs differ:\n{a}\n{b}")
print(f"{len(a)} steps, identical losses")
