"""Runs onebit-run with ONEBIT_PERF_MAP set to argv[4] and prints the perf
map it wrote for its process id, then removes it."""
import os
import subprocess
import sys

run, model, work, flag = sys.argv[1:5]
env = dict(os.environ, ONEBIT_PERF_MAP=flag)
p = subprocess.Popen([run, model, "--input", os.path.join(work, "x.npy"),
                      "--output", os.path.join(work, "y.npy")], env=env)
if p.wait() != 0:
    sys.exit("onebit-run failed")
path = "/tmp/perf-%d.map" % p.pid
if not os.path.exists(path):
    print("map: no")
    sys.exit(0)
print("map: yes")
print(open(path).read(), end="")
os.remove(path)
