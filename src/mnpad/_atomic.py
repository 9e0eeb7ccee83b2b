"""mnpad's one atomic writer: write next to the target, rename into place at the end.

Every file mnpad writes for a user (model files, score tables, explanations, plots, downloaded
datasets) goes through :func:`atomic_output`:

- the bytes go to a hidden temporary file ``.<name>.<pid>.<random>.part`` in the target's
  directory, renamed onto the target (``os.replace``) only when everything was written, so the
  target is either unchanged or complete;
- the temporary file is created with mode ``0o666`` filtered by the process umask (as
  ``open()`` does), so outputs get the usual permissions (``0644`` under umask 022), not the
  ``0600`` of :func:`tempfile.mkstemp`;
- on any exception (``KeyboardInterrupt`` and the CLI's SIGTERM included) it is removed; a
  process killed outright (SIGKILL, power loss) cannot clean up, so every new write to the same
  target first removes the ``.part`` files of that target whose writing process no longer runs
  on this host.

Nothing here imports numpy, pandas or torch.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path

__all__ = ["atomic_output", "atomic_write_bytes", "clean_stale_parts", "part_files"]


def _part_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}.{socket.gethostname()}.{secrets.token_hex(4)}.part"


def part_files(target):
    """Temporary files of ``target`` (any process): ``[(path, pid, host), ...]``."""
    target = Path(target)
    pat = re.compile(r"^\." + re.escape(target.name) + r"\.(\d+)\.(.*)\.[0-9a-f]{8}\.part$")
    out = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return out
    for e in entries:
        m = pat.match(e.name)
        if m:
            out.append((Path(e.path), int(m.group(1)), m.group(2)))
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return True
    return True


def clean_stale_parts(target):
    """Remove the ``.part`` files of ``target`` left by dead processes of this host.

    Returns the removed paths. Files of running processes and of other hosts are kept.
    """
    host = socket.gethostname()
    removed = []
    for path, pid, phost in part_files(target):
        if phost == host and pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_output(path, overwrite=False, *, hint="pass --force to overwrite it"):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or Path
        The target. Its directory is created if needed.
    overwrite : bool, default=False
        Replace an existing ``path``; otherwise an existing target is a ``FileExistsError``
        (checked before and again at the end, so a file that appeared meanwhile is kept).
    hint : str
        How to overwrite, in the error message.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"output {path} is a directory.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; {hint}.")
    made = _make_parents(path.parent)
    clean_stale_parts(path)
    tmp = path.parent / _part_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    os.close(fd)
    ok = False
    try:
        yield str(tmp)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} appeared while writing; {hint}.")
        os.replace(tmp, path)
        ok = True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if not ok:
            _remove_empty(made)


def atomic_write_bytes(path, data: bytes, overwrite=False,
                       hint="pass overwrite=True (CLI: --force) to replace it"):
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`), fsynced."""
    with atomic_output(path, overwrite, hint=hint) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def _make_parents(folder: Path):
    """mkdir -p; returns the folders it created, deepest first (to undo on failure)."""
    made = []
    p = folder
    while str(p) not in ("", ".") and not p.exists():
        made.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _remove_empty(folders):
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            break
