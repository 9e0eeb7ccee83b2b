"""The dataset registry: the paper's 15 datasets (Table 1) and a few useful extras.

Each entry says what the paper used (``paper_shape``), which file mnpad reads (``files``, relative
to the data root, first match wins), and how close that file is to the paper's (``status``), as
established in ``shared/data/MANIFEST.md``:

* ``'exact'``: the file holds the paper's rows, labels and feature encoding;
* ``'substitute'``: a real but different version (fewer rows, or other dimensions);
* ``'missing'``: no public copy could be obtained; ``source`` says where to get it.

For extras (``abbr`` is None) ``status`` describes the file against its own named source.
``url``/``sha256`` name a byte-exact public original that ``mnpad datasets fetch`` can download
and that the loader reads directly; they are None where no such file exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatasetInfo", "REGISTRY", "STATUSES"]

STATUSES = ("exact", "substitute", "missing")

_ADBENCH = ("https://raw.githubusercontent.com/Minqi824/ADBench/"
            "3dac8221081e190f157d78e93bfa8867f90d0965/adbench/datasets/Classical/")
_DEVNET = ("https://raw.githubusercontent.com/GuansongPang/deviation-network/"
           "179a74a1c03d8c03b577fc7e28672dbff3779582/dataset/")
_UNSW_LICENCE = ("UNSW-NB15: free for academic research, cite Moustafa & Slay (MilCIS 2015); "
                 "preprocessing after DevNet (GPL-3.0, Pang et al. KDD 2019)")
_UNSW_82K_SOURCE = ("UNSW-NB15 82,332-row partition (mirror akritiupadhyay-au/Cyber-Attack-Detection-"
                    "with-Random-Forest @ f666564, UNSW_NB15_training-set.csv.zip), one-hot to DevNet's "
                    "196 columns; see shared/data/MANIFEST.md")
_UNSW_EXACT_HINT = ("the exact paper subset needs both UNSW-NB15 partitions (82,332 + 175,341 rows): "
                    "https://research.unsw.edu.au/projects/unsw-nb15-dataset, or PReNet's "
                    "UNSW_NB15_traintest_*.csv.zip (mala-lab/PReNet README, Google Drive)")
_IOT_SOURCE = ("IoT-23 (Stratosphere Lab, https://www.stratosphereips.org/datasets-iot23); the paper's "
               "24-feature subsets are the authors' own preprocessing and are not public")


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of one registered dataset.

    Attributes
    ----------
    name : str
        Registry slug (``load(name)``), lower case.
    abbr : str or None
        The paper's abbreviation (as in ``shared/paper/table2_paper.csv``); None for extras.
    title : str
        Human-readable name.
    paper_shape : tuple (N, D, anomaly_pct) or None
        Rows, features and anomaly percentage in the paper's Table 1.
    status : {'exact', 'substitute', 'missing'}
        How close the data mnpad reads is to the paper's (see module docstring).
    files : tuple of str
        Candidate files relative to the data root, in order of preference.
    source, licence : str
        Provenance and licence/attribution.
    url, sha256 : str or None
        Public byte-exact original for ``mnpad datasets fetch`` and its sha256.
    note : str
        What differs from the paper, or how the file was made.
    options : dict
        Reader options (label column, constant anomaly type, ...), internal.
    """

    name: str
    abbr: str | None
    title: str
    paper_shape: tuple | None
    status: str
    files: tuple = ()
    source: str = ""
    licence: str = ""
    url: str | None = None
    sha256: str | None = None
    note: str = ""
    options: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def fetch_file(self):
        """Relative path ``fetch`` stores the download under (the file named like the URL)."""
        if not self.url:
            return None
        base = self.url.rsplit("/", 1)[-1]
        for f in self.files:
            if f.rsplit("/", 1)[-1] == base:
                return f
        return self.files[-1] if self.files else base


def _unsw(name, abbr, attack, paper_shape, fname, shape_note):
    return DatasetInfo(
        name=name, abbr=abbr, title=f"UNSW-NB15 {attack}", paper_shape=paper_shape,
        status="substitute", files=(f"unsw_nb15_82k/{fname}",), source=_UNSW_82K_SOURCE,
        licence=_UNSW_LICENCE,
        note=(f"substitute: Normal + {attack} rows of the 82,332-row partition only ({shape_note}); "
              "same 196-dim encoding, min-max over the subset (DevNet recipe). "
              f"For the exact data: {_UNSW_EXACT_HINT}"),
    )


def _iot(name, abbr, n, pct):
    return DatasetInfo(
        name=name, abbr=abbr, title=f"IoT-23 {abbr}", paper_shape=(n, 24, pct), status="missing",
        files=(f"iot23/iot23_{name}.npz",),
        source=_IOT_SOURCE, licence="IoT-23: CC BY (Stratosphere Lab, Garcia et al. 2020)",
        note="no public preprocessed copy; the MNPWAD repository ships no data",
    )


_ENTRIES = [
    _unsw("dos", "DoS", "DoS", (109353, 196, 15.0), "unsw_nb15_82k_dos.npz",
          "41,089 x 196, 9.95 % anomalies"),
    _unsw("rec", "Rec", "Reconnaissance", (106987, 196, 13.1),
          "unsw_nb15_82k_reconnaissance.npz", "40,496 x 196, 8.63 % anomalies"),
    DatasetInfo(
        name="bac", abbr="Bac", title="UNSW-NB15 Backdoor", paper_shape=(95329, 196, 2.4),
        status="exact",
        files=("unsw_nb15_backdoor/unsw_nb15_backdoor.npz",
               "unsw_nb15_backdoor/UNSW_NB15_traintest_backdoor.tar.xz"),
        source="DevNet repository GuansongPang/deviation-network @ 179a74a, "
               "dataset/UNSW_NB15_traintest_backdoor.tar.xz",
        licence=_UNSW_LICENCE, url=_DEVNET + "UNSW_NB15_traintest_backdoor.tar.xz",
        sha256="b3f703966c1cc952f55d73f707611be8157500f20a296a8598438a2f572bfdfe",
        note="exact DevNet/PReNet file (95,329 x 196, 2.44 %); the .npz is a lossless conversion "
             "of the csv in the .tar.xz, which is read directly when the .npz is absent",
        options={"label_column": "class", "anomaly_type": "Backdoor"},
    ),
    _unsw("ana", "Ana", "Analysis", (95677, 196, 2.8), "unsw_nb15_82k_analysis.npz",
          "37,677 x 196, 1.80 % anomalies"),
    _iot("cc", "C&C", 31619, 17.8),
    _iot("attack", "Attack", 29815, 12.8),
    _iot("ddos", "DDoS", 26037, 0.1),
    _iot("okiru", "Okiru", 26164, 0.6),
    DatasetInfo(
        name="fraud", abbr="Fraud", title="Credit card Fraud Detection",
        paper_shape=(284807, 29, 0.2), status="missing", files=("fraud/13_fraud.npz",),
        source="Kaggle mlg-ulb/creditcardfraud, or ADBench 13_fraud.npz "
               "(https://github.com/Minqi824/ADBench, adbench/datasets/Classical/13_fraud.npz, "
               "stored with Git LFS)",
        licence="ODbL 1.0 (ULB Machine Learning Group)",
        note="every public copy is >= 4 MiB and none was reachable from the build machine",
    ),
    DatasetInfo(
        name="vc", abbr="VC", title="Vehicle Claims", paper_shape=(268255, 306, 21.2),
        status="missing", files=("vehicle_claims/vehicle_claims.npz",),
        source="ajaychawda58/UADAD @ 1bb6cbf, data/vehicle_claims/vehicle_claims_labeled.csv",
        licence="CC BY 4.0",
        note="synthetic data; only copy is >= 4 MiB, cannot be regenerated faithfully",
    ),
    DatasetInfo(
        name="vi", abbr="VI", title="Vehicle Insurance Claim Fraud",
        paper_shape=(15420, 148, 6.0), status="exact",
        files=("vehicle_insurance/vehicle_insurance_onehot.npz",
               "vehicle_insurance/fraud_oracle.csv", "vehicle_insurance/fraud_oracle.csv.gz"),
        source="Oracle/Angoss carclaims (Kaggle shivamb/vehicle-claim-fraud-detection), copy "
               "TeamAlphaTingyu/MachineLearningHW1 @ ac5721e fraud_oracle.csv",
        licence="public Kaggle data set (Oracle/Angoss sample data); cite the Kaggle page",
        url="https://raw.githubusercontent.com/TeamAlphaTingyu/MachineLearningHW1/"
            "ac5721eadbba07613151e6a7ec24287f835721c9/fraud_oracle.csv",
        sha256="8bb5870f82bb78cceb2bee7747c68c2a8d617af4e22b2de55fbb40c214883255",
        note="one-hot of the 25 categorical columns named by ajaychawda58/UADAD + 6 raw numeric "
             "columns = 148 features, the paper's D (see MANIFEST.md); the raw csv is "
             "converted the same way when the .npz is absent",
        options={"convert": "vehicle_insurance"},
    ),
    DatasetInfo(
        name="gamma", abbr="Gamma", title="MAGIC Gamma Telescope", paper_shape=(19020, 10, 35.2),
        status="exact", files=("magic_gamma/22_magic.gamma.npz",),
        source="ADBench (Minqi824/ADBench @ 3dac822) 22_magic.gamma.npz; UCI MAGIC Gamma",
        licence="data CC BY 4.0 (UCI); ADBench BSD-2-Clause", url=_ADBENCH + "22_magic.gamma.npz",
        sha256="0be375984d7af9ea7a63b12206c240840d8b7daa3607021c5fb8756407dd86f1",
    ),
    DatasetInfo(
        name="census", abbr="Census", title="Census-Income (KDD)",
        paper_shape=(299285, 500, 6.2), status="substitute",
        files=("census_income/census_nominal_onehot495.npz",),
        source="GuansongPang/anomaly-detection-datasets @ 3361dac, categorical data/"
               "census-income-full-nominal.tar.xz; UCI Census-Income (KDD)",
        licence="data CC BY 4.0 (UCI)",
        note="substitute: right rows and labels, 495 one-hot nominal columns instead of the "
             "paper's 500 (DevNet's mixed-binarized version adds the 7 numeric attributes)",
    ),
    DatasetInfo(
        name="pendigits", abbr="Pendigits", title="Pen-based digits",
        paper_shape=(6870, 16, 2.3), status="exact", files=("pendigits/28_pendigits.npz",),
        source="ADBench (Minqi824/ADBench @ 3dac822) 28_pendigits.npz; UCI via ODDS",
        licence="data CC BY 4.0 (UCI); ADBench BSD-2-Clause", url=_ADBENCH + "28_pendigits.npz",
        sha256="c4936b89dcdad59d303020e492f763a0f54170080d787c77497609acbb9c2d79",
    ),
    DatasetInfo(
        name="bank", abbr="Bank", title="Bank Marketing", paper_shape=(41188, 62, 11.3),
        status="exact", files=("bank_marketing/5_campaign.npz",),
        source="ADBench (Minqi824/ADBench @ 3dac822) 5_campaign.npz; UCI Bank Marketing "
               "(Moro et al. 2014)",
        licence="data CC BY 4.0 (UCI); ADBench BSD-2-Clause", url=_ADBENCH + "5_campaign.npz",
        sha256="74dd4d0072d6c6f1aabab63bc102f9633454f32bb936fa9bcfbd38f9f2386bcd",
    ),
    # ---- extras ----
    DatasetInfo(
        name="bac_82k", abbr=None, title="UNSW-NB15 Backdoor (82k partition)", paper_shape=None,
        status="substitute", files=("unsw_nb15_82k/unsw_nb15_82k_backdoor.npz",),
        source=_UNSW_82K_SOURCE, licence=_UNSW_LICENCE,
        note="Normal + Backdoor of the 82k partition (37,583 x 196, 1.55 %), built like the DoS/"
             "Rec/Ana substitutes, so the four UNSW subsets can be compared on equal footing",
    ),
    DatasetInfo(
        name="unsw_nb15_82k", abbr=None, title="UNSW-NB15 82k partition, all attack types",
        paper_shape=None, status="exact",
        files=("unsw_nb15_82k/unsw_nb15_82k_devnet196_raw.npz",),
        source=_UNSW_82K_SOURCE, licence=_UNSW_LICENCE,
        note="all 82,332 rows, y = any attack, anomaly_type = attack_cat; the 39 numeric "
             "columns are raw (not scaled); the source of the unseen-anomaly splits",
    ),
]

REGISTRY = {info.name: info for info in _ENTRIES}
