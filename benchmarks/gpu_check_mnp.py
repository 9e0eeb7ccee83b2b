"""Device check of MNP on CUDA (run on a GPU machine; not a test).

Checks determinism of refits, batch independence of scores, persistence round-trips (CUDA ->
CUDA, CUDA -> CPU), quality on the synthetic task of the tests, fit time and scoring throughput
against the CPU. Prints one JSON object; writes it to $OUT/gpu_check_mnp.json when OUT is set.

    PYTHONPATH=src python benchmarks/gpu_check_mnp.py
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from _synth import multimodal_task  # noqa: E402

import mnpad  # noqa: E402
from mnpad import MNP  # noqa: E402
from mnpad.metrics import evaluate  # noqa: E402

out = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
       "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
Xtr, y, _, Xte, yte = multimodal_task(seed=0)
kw = dict(epochs=10, pretrain_epochs=5, steps_per_epoch=32, lr=5e-3, random_state=0)
res = {}
for dev in ("cpu", "cuda"):
    t = time.perf_counter()
    m = MNP(device=dev, **kw).fit(Xtr, y)
    res[dev] = (m, time.perf_counter() - t)
    out[f"{dev}_fit_s"] = round(res[dev][1], 2)
    out[f"{dev}_aucpr"] = round(evaluate(yte, m.decision_function(Xte))["aucpr"], 4)
m = res["cuda"][0]
assert m.device_.startswith("cuda"), m.device_
s = m.decision_function(Xte)
m2 = MNP(device="cuda", **kw).fit(Xtr, y)
out["cuda_refit_max_abs_diff"] = float(np.abs(m2.decision_function(Xte) - s).max())
out["cuda_single_row_equal"] = bool(np.array_equal(m.decision_function(Xte[7:8]), s[7:8]))
m.set_params(batch_size=13)
out["cuda_batch_size_equal"] = bool(np.array_equal(m.decision_function(Xte), s))
m.set_params(batch_size=4096)
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "m.mnpad")
    m.save(p)
    out["cuda_reload_equal"] = bool(np.array_equal(mnpad.load(p).decision_function(Xte), s))
    out["cuda_to_cpu_max_abs_diff"] = float(
        np.abs(mnpad.load(p, device="cpu").decision_function(Xte) - s).max())
# scoring throughput, 196 features, 2M rows
Xbig = np.random.default_rng(0).random((2_000_000, 196), dtype=np.float32)
ybig = np.zeros(len(Xbig), np.int8)
ybig[:50] = 1
mb = MNP(device="cuda", epochs=1, pretrain_epochs=1, random_state=0).fit(Xbig[:20000], ybig[:20000])
for bs in (4096, 262144):
    mb.set_params(batch_size=bs)
    mb.decision_function(Xbig[:100000])
    torch.cuda.synchronize()
    t = time.perf_counter()
    mb.decision_function(Xbig)
    out[f"cuda_score_rows_per_s_bs{bs}"] = round(len(Xbig) / (time.perf_counter() - t))
print(json.dumps(out, indent=1))
if os.environ.get("OUT"):
    with open(os.path.join(os.environ["OUT"], "gpu_check_mnp.json"), "w") as fh:
        json.dump(out, fh, indent=1)
