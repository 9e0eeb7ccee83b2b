"""Datasets of the MNP paper (Table 1) and readers for your own data.

>>> from mnpad import datasets
>>> ds = datasets.load("pendigits")          # Dataset: X float32, y int8 (1 = anomaly)
>>> [i.name for i in datasets.list_datasets()]
>>> datasets.available_datasets()             # those with a file under the data root

Data root: ``data_dir`` argument, else ``$MNPAD_DATA``, else ``../shared/data`` next to the
repository (or the current directory) if present, else the user cache directory. Each entry's
``status`` says whether the file matches the paper ('exact'), is a documented 'substitute', or is
'missing' (the error message of ``load`` says where to get it). See ``docs/datasets.md``.
"""

from ._core import (
    Dataset,
    DatasetNotAvailable,
    available_datasets,
    data_root,
    find_file,
    get_info,
    list_datasets,
    load,
    load_file,
    user_cache_dir,
)
from ._fetch import check_file, download, fetch, sha256_file
from ._readers import npz_shape, read_file, read_npz, read_table
from ._registry import REGISTRY, STATUSES, DatasetInfo

__all__ = [
    "check_file",
    "Dataset", "DatasetInfo", "DatasetNotAvailable", "REGISTRY", "STATUSES",
    "available_datasets", "data_root", "download", "fetch", "find_file", "get_info",
    "list_datasets", "load", "load_file", "npz_shape", "read_file", "read_npz", "read_table",
    "sha256_file", "user_cache_dir",
]
