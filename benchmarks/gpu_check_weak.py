"""Device check of the weak baselines on CUDA: determinism, batch independence, persistence,
quality on the synthetic task of tests/test_baselines_weak.py. Prints one line per method.

    PYTHONPATH=src python benchmarks/gpu_check_weak.py
"""

import os
import sys
import tempfile
import time

import numpy as np
from sklearn.metrics import average_precision_score

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_baselines_weak import FAST, _draw  # noqa: E402

import mnpad  # noqa: E402


def main():
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(0)
    X, yt = _draw(rng, 2000)
    Xt, ytt = _draw(rng, 2000)
    lo, hi = X.min(0), X.max(0)
    X, Xt = ((X - lo) / (hi - lo)).astype(np.float32), ((Xt - lo) / (hi - lo)).astype(np.float32)
    y = np.zeros_like(yt)
    y[rng.choice(np.flatnonzero(yt), 20, replace=False)] = 1
    for name, p in FAST.items():
        t = time.perf_counter()
        a = mnpad.get_detector(name, device=dev, random_state=0, **p).fit(X, y)
        fit_s = time.perf_counter() - t
        b = mnpad.get_detector(name, device=dev, random_state=0, **p).fit(X, y)
        s = a.decision_function(Xt)
        det = np.array_equal(s, b.decision_function(Xt))
        alone = all(np.array_equal(a.decision_function(Xt[i:i + 1]), s[i:i + 1])
                    for i in (0, 17, 999, 1999))
        with tempfile.TemporaryDirectory() as td:
            a.save(os.path.join(td, "m.zip"))
            same_load = np.array_equal(mnpad.load(os.path.join(td, "m.zip")).decision_function(Xt), s)
        print(f"{name}: device={a.device_} fit={fit_s:.2f}s deterministic={det} "
              f"row_independent={alone} load_identical={same_load} "
              f"aucpr={average_precision_score(ytt, s):.3f}", flush=True)


if __name__ == "__main__":
    main()
