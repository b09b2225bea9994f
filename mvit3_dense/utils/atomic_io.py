"""Atomic local writes for everything mmengine saves (checkpoints, ``last_checkpoint``, dumps).

mmengine writes local files in place, so a process killed mid-write leaves a truncated
checkpoint under the final name. The backend below writes a temporary file beside the target
and renames it into place; registering it as mmengine's ``local`` backend makes every
``save_checkpoint`` and ``dump`` of a run atomic without touching the Runner.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mmengine.fileio import LocalBackend, register_backend


def atomic_write(data, path, mode='wb', encoding=None):
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def staged_folder(root):
    """Build a folder in ``<root>.partial`` and move it to ``root`` only when the block succeeds.

    An interrupted or failing writer therefore never leaves a folder that looks complete under
    ``root``; the partial folder is removed on failure and replaced by the next attempt.

    Args:
        root (str | Path): Folder to create; must not exist yet.

    Yields:
        Path: The partial folder to write into (already created).
    """
    root = Path(root)
    if root.exists():
        raise FileExistsError(f'{root} exists already; remove it to write it again')
    partial = root.with_name(root.name + '.partial')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.replace(partial, root)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend whose writes never leave a partial file under the target name."""

    def put(self, obj, filepath):
        atomic_write(obj, str(filepath), 'wb')

    def put_text(self, obj, filepath, encoding='utf-8'):
        atomic_write(obj, str(filepath), 'w', encoding=encoding)


def use_atomic_local_backend():
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
