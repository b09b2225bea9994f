"""Atomic local writes for everything mmengine saves (checkpoints, ``last_checkpoint``, dumps).

mmengine writes local files in place, so a process killed mid-write leaves a truncated
checkpoint under the final name. The backend below writes a temporary file beside the target
and renames it into place; registering it as mmengine's ``local`` backend makes every
``save_checkpoint`` and ``dump`` of a run atomic without touching the Runner.
"""
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mmengine.fileio import LocalBackend, register_backend


# Temporary files are named ``.<target name>.<8 random characters>.tmp`` (``tempfile.mkstemp``).
_TEMP_NAME = re.compile(r'^\..+\.[a-z0-9_]{8}\.tmp$')


def _sync_directory(directory):
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(data, path, mode='wb', encoding=None):
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    The file is complete on disk (flushed and synced) before it takes the final name; it is
    readable by all (mode 0644), as files written by ``open`` usually are.
    """
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
    _sync_directory(directory)


def remove_stale_temp_files(directory):
    """Remove the temporary files that :func:`atomic_write` left in ``directory`` when its process
    was killed; returns their names. Call it only where no other process is writing."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in sorted(names):
        path = os.path.join(directory, name)
        if _TEMP_NAME.match(name) and os.path.isfile(path) and not os.path.islink(path):
            try:
                os.unlink(path)
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


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
