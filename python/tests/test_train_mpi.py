"""onebit.train under mpirun: 2 ranks x batch 2 train the model of one
process (docs/training.md, "Data parallel", "Python"), as
test/Training/train-data-parallel.test checks for onebit-train."""
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import onebit

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 20

# What every rank runs. Each rank works in its own directory (rank0/,
# rank1/) and every rank is given the same relative `out`, so the options
# agree and a file written by rank 1 would land under rank1/. The losses
# each rank's callback saw go to RESULTS/rank<r>.json, outside those
# directories.
RANK_SCRIPT = textwrap.dedent("""\
    import json, os, sys
    import onebit
    teacher, ids, work, results = sys.argv[1:5]
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK",
                              os.environ.get("PMI_RANK", "0")))
    os.chdir(os.path.join(work, "rank%d" % rank))
    seen = []
    try:
        run = onebit.train(teacher, data="tokens:" + ids, steps=STEPS,
                           warmup=2, lr=1e-3, batch=2, seq_len=8, threads=1,
                           out="run", quiet=False, collective_timeout=60,
                           callback=lambda s: seen.append(
                               [s.loss, s.l_ce, s.l_mse]))
        report = {"losses": seen, "final_loss": run.final_loss}
    except onebit.Error as e:
        report = {"error": str(e)}
    with open(os.path.join(results, "rank%d.json" % rank), "w") as f:
        json.dump(report, f)
    """).replace("STEPS", str(STEPS))


@pytest.fixture(scope="module")
def dynamic_llama_onnx(tmp_path_factory):
    """The tiny LLaMA of test_train.py (test/e2e/models.py, seed 0) with a
    dynamic batch, so that one process can take the batch of two ranks."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(ROOT / "test" / "e2e"))
    import models
    path = tmp_path_factory.mktemp("teacher") / "teacher.onnx"
    models.export("llama", str(path), opset=17, dynamic=True, seed=0)
    return path


def read_checkpoint(path):
    """The step and the state tensors of a checkpoint.bin, read by the
    reader of train-data-parallel.test (Inputs/compare_runs.py)."""
    spec = importlib.util.spec_from_file_location(
        "compare_runs", ROOT / "test" / "Training" / "Inputs" /
        "compare_runs.py")
    compare_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_runs)
    step, tensors = compare_runs.read_checkpoint(str(path))
    return step, {n: t for n, t in tensors.items()
                  if not n.startswith("train.")}


def one_process(teacher, ids, out, **options):
    seen = []
    onebit.train(teacher, data=f"tokens:{ids}", steps=STEPS, warmup=2,
                 lr=1e-3, seq_len=8, threads=1, distributed="none", out=out,
                 callback=lambda s: seen.append([s.loss, s.l_ce, s.l_mse]),
                 **options)
    return np.array(seen)


def relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def test_two_ranks_train_one_model(dynamic_llama_onnx, tmp_path):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not on PATH")
    ids = tmp_path / "ids.npy"
    np.save(ids, np.random.default_rng(1).integers(0, 64, (16, 8))
            .astype(np.int64))
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    work, results = tmp_path / "work", tmp_path / "results"
    for d in (work / "rank0", work / "rank1", results):
        d.mkdir(parents=True)
    # The launcher's variables of an outer mpirun would make this a rank of
    # that job.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OMPI_", "PMIX_", "PMI_"))}
    proc = subprocess.run(
        [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2",
         sys.executable, str(script), str(dynamic_llama_onnx), str(ids),
         str(work), str(results)],
        capture_output=True, text=True, timeout=180, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    reports = [json.loads((results / f"rank{r}.json").read_text())
               for r in range(2)]
    for report in reports:
        if "has no MPI" in report.get("error", ""):
            pytest.skip("onebit.train under mpirun: " + report["error"])
    assert "error" not in reports[0] and "error" not in reports[1], reports

    # Only rank 0 printed, and only rank 0 wrote: its log, checkpoint and
    # model; nothing appeared in rank 1's directory.
    assert output.count("data parallel: 2 rank(s) x 1 micro-batch(es) x 2 "
                        "sequences = 4 per step") == 1, output
    assert output.count(f"onebit-train: {STEPS} steps, final loss") == 1, \
        output
    run = work / "rank0" / "run"
    assert {"train.jsonl", "checkpoint.bin", "model.mlirbc"} <= \
        {p.name for p in run.iterdir()}
    assert not any((work / "rank1").iterdir()), \
        sorted(str(p) for p in (work / "rank1").rglob("*"))
    log = [json.loads(line) for line in open(run / "train.jsonl")]
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))
    assert all(r["ranks"] == 2 for r in log)

    # Every rank saw the same (all-reduced) losses, those of the log.
    two = np.array(reports[0]["losses"])
    assert two.shape == (STEPS, 3)
    assert reports[1]["losses"] == reports[0]["losses"]
    logged = np.array([[r["loss"], r["l_ce"], r["l_mse"]] for r in log])
    np.testing.assert_allclose(logged, two, rtol=1e-6)
    step, ranks = read_checkpoint(run / "checkpoint.bin")
    assert step == STEPS and len(ranks) == 3 * 42  # parameters, m and v

    # One process x batch 2 x grad_accum 2 runs the same micro-batches and
    # sums the same two gradients: the same bits.
    accum = one_process(dynamic_llama_onnx, ids, tmp_path / "accum",
                        batch=2, grad_accum=2)
    np.testing.assert_array_equal(two, accum)
    _, same = read_checkpoint(tmp_path / "accum" / "checkpoint.bin")
    assert same.keys() == ranks.keys()
    for name in ranks:
        np.testing.assert_array_equal(ranks[name], same[name], err_msg=name)

    # One process x batch 4 (the fused step) sums the gradient in another
    # order: the losses of each step and each tensor (2-norm) to 1e-5
    # relative, the tolerance of train-data-parallel.test.
    fused = one_process(dynamic_llama_onnx, ids, tmp_path / "fused", batch=4)
    worst_loss = float(np.max(np.abs(two - fused) / np.abs(fused)))
    _, ref = read_checkpoint(tmp_path / "fused" / "checkpoint.bin")
    assert ref.keys() == ranks.keys()
    worst = {kind: max(relative(ranks[n], ref[n]) for n in ranks
                       if n.endswith((".adam_m", ".adam_v")) == moments)
             for kind, moments in (("parameters", False), ("moments", True))}
    print(f"2 ranks x batch 2 against 1 process x batch 4: losses "
          f"{worst_loss:.2g}, parameters {worst['parameters']:.2g}, "
          f"Adam moments {worst['moments']:.2g} (worst relative)")
    assert worst_loss <= 1e-5
    assert worst["parameters"] <= 1e-5 and worst["moments"] <= 1e-5
