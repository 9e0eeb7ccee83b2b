"""Why DeepSVDD scores Backdoor (bac) so low: a diagnostic, not a tuning run.

Our DeepSVDD reaches trapz AUC-PR 0.024 / AUC-ROC 0.41 on bac (paper, DeepOD's version: 0.143).
This script fits one seed of three configurations on the ``paper`` split of bac and prints, per
configuration, AUC-ROC / AP on the test split, plus two input-space facts about the anomalies:

* ``default``      our DeepSVDD (Deep SAD's tabular network, AE pretraining, 50 epochs)
* ``no_pretrain``  the same without autoencoder pretraining (centre from the initial network)
* ``deepod_like``  DeepOD's settings: hidden (100, 50), rep_dim 128, no pretraining,
                   100 epochs, batch 64 (our network keeps its BatchNorm)
* ``deepod_like_no_bn``  the same with ``batch_norm=False``: DeepOD's plain bias-free MLP
                   (LeakyReLU(0.01) where DeepOD has ReLU)
* ``no_bn``        our defaults with ``batch_norm=False``

Test labels are used only to report; no default is chosen from this output.

    OMP_NUM_THREADS=1 python benchmarks/diag_deepsvdd_bac.py [seed] [config,config...]
"""

import json
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from mnpad.detectors import DeepSVDD
from mnpad.protocol import make_split

CONFIGS = {
    "default": {},
    "no_pretrain": {"pretrain_epochs": 0},
    "deepod_like": {"hidden_dims": (100, 50), "rep_dim": 128, "pretrain_epochs": 0,
                    "epochs": 100, "train_batch_size": 64},
    "deepod_like_no_bn": {"hidden_dims": (100, 50), "rep_dim": 128, "pretrain_epochs": 0,
                          "epochs": 100, "train_batch_size": 64, "batch_norm": False},
    "no_bn": {"batch_norm": False},
}


def main(seed=42, only=None):
    sp = make_split("bac", protocol="paper")
    Xte, yte = sp.X_test.astype(np.float64), sp.y_test
    facts = {
        "nonzero_features_normal": float((Xte[yte == 0] > 0).sum(1).mean()),
        "nonzero_features_anomaly": float((Xte[yte == 1] > 0).sum(1).mean()),
        "aucroc_squared_norm": float(roc_auc_score(yte, (Xte ** 2).sum(1))),
        "aucroc_dist_to_train_mean": float(
            roc_auc_score(yte, ((Xte - sp.X_train.mean(0)) ** 2).sum(1))),
    }
    print(json.dumps({"input_space": {k: round(v, 3) for k, v in facts.items()}}), flush=True)
    for name, params in CONFIGS.items():
        if only and name not in only:
            continue
        det = DeepSVDD(random_state=seed, **params).fit(sp.X_train, sp.y_train)
        s = det.decision_function(sp.X_test)
        print(json.dumps({"config": name, "seed": seed, "fit_time": round(det.fit_time_, 1),
                          "aucroc": round(float(roc_auc_score(yte, s)), 3),
                          "ap": round(float(average_precision_score(yte, s)), 3),
                          "median_dist_normal": float(f"{np.median(s[yte == 0]):.3g}"),
                          "median_dist_anomaly": float(f"{np.median(s[yte == 1]):.3g}")}),
              flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 42,
         sys.argv[2].split(",") if len(sys.argv) > 2 else None)
