"""Download a dataset's public original, verify its sha256 and store it atomically."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from ._core import (
    DatasetNotAvailable,
    _where_to_get,
    data_root,
    find_file,
    get_info,
    user_cache_dir,
)

__all__ = ["download", "fetch", "sha256_file", "check_file"]

_CHUNK = 1 << 20


def sha256_file(path):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url, dest, sha256=None, *, timeout=60.0, progress=False):
    """Download ``url`` to ``dest``; verify ``sha256``; move into place atomically.

    The bytes go to a temporary file in ``dest``'s directory, which is renamed onto ``dest``
    (``os.replace``) only after the whole body arrived and its sha256 matched, so ``dest`` is
    either absent/unchanged or complete; the temporary file is removed on any failure.

    Raises
    ------
    ValueError
        The sha256 of the download differs from ``sha256``.
    OSError
        Network or file-system errors (``urllib.error.URLError`` is an ``OSError``).
    """
    from .._atomic import atomic_output

    dest = Path(dest)
    try:
        # the temporary file (and any folder made for it) is removed on failure
        with atomic_output(dest, overwrite=True) as tmp:
            h = hashlib.sha256()
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = None
                if progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name)
                got = 0
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
                if total is not None and got != total:
                    raise OSError(f"download of {url} ended after {got} of {total} bytes")
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            if sha256 is not None and digest != sha256.lower():
                raise ValueError(f"sha256 mismatch for {url}: expected {sha256}, got {digest}; "
                                 "nothing was stored")
    except http.client.HTTPException as exc:
        raise OSError(f"download of {url} failed: {exc!r}") from None
    return dest


#: files up to this size are hashed by ``check_file`` (``datasets list``); larger ones are not
_HASH_LIMIT = 64 << 20


def check_file(info, path, *, hash_limit=_HASH_LIMIT):
    """Why the file ``path`` of dataset ``info`` is unusable, or None if it looks fine.

    Empty files and ``.npz`` files whose ``X`` header cannot be read are refused; a file named
    like the public download is checked against the registry's sha256 when it is not larger
    than ``hash_limit`` bytes.
    """
    from ._readers import npz_shape

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    if path.name.endswith(".npz") and npz_shape(path) is None:
        return f"not a readable .npz ({size} bytes)"
    fetch_name = Path(info.fetch_file).name if info.fetch_file else None
    if (info.sha256 and path.name == fetch_name and size <= hash_limit
            and sha256_file(path) != info.sha256):
        return f"sha256 differs from the public original ({size} bytes)"
    return None


def _writable_root(data_dir):
    root = data_root(data_dir)
    if data_dir is not None or os.environ.get("MNPAD_DATA"):
        return root
    probe = root if root.exists() else root.parent
    return root if os.access(probe, os.W_OK) else user_cache_dir()


def fetch(name, data_dir=None, *, force=False, progress=False, timeout=60.0):
    """Download a registered dataset's public original into the data root.

    The file is stored under ``<root>/<relative path of the registry entry>`` and verified
    against the registry's sha256. Without ``data_dir``/``$MNPAD_DATA`` a read-only default
    root falls back to the user cache directory (which ``load`` also searches).

    Returns
    -------
    path : Path
        The stored (or already present and verified) file.
    """
    info = get_info(name)
    if not info.url:
        raise DatasetNotAvailable(_where_to_get(info, data_dir).replace(
            "is not available", "cannot be fetched (no byte-exact public original)", 1))
    dest = _writable_root(data_dir) / info.fetch_file
    present = None if force else find_file(info, data_dir)
    if present is not None:
        # a present copy must be readable; the download itself must verify (any size)
        bad = check_file(info, present, hash_limit=float("inf"))
        if bad is None:
            return present
        if present != dest:
            raise ValueError(f"{present} is corrupt ({bad}); remove it, then run the fetch "
                             "again.")
    try:
        return download(info.url, dest, info.sha256, timeout=timeout, progress=progress)
    except PermissionError as exc:
        raise PermissionError(f"cannot write {dest} ({exc.strerror}); choose a writable "
                              "directory with --data-dir or MNPAD_DATA") from None
    except urllib.error.URLError as exc:
        raise OSError(f"could not download {info.url}: {exc.reason}") from None
