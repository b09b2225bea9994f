"""Errors the tools explain in one line instead of a traceback.

:class:`InputError` is raised by every check of a run's inputs (config, data, checkpoints);
:func:`tool_errors` turns it (and the other errors whose text names the problem and the fix) into
``error: <message>`` with exit status 1; :func:`explain_data_errors` turns mmcv's assertion for an
image it cannot decode into an :class:`InputError` naming the file.
"""
import os.path as osp
import re
import sys
from contextlib import contextmanager
from typing import Iterator, Optional

from .checkpoint import CheckpointError


class InputError(RuntimeError):
    """An input named by the config (data, checkpoint) is missing; the message says what to do."""


# mmcv's LoadImageFromFile asserts with this text when a file does not decode
# (mmcv/transforms/loading.py, LoadImageFromFile.transform).
_UNREADABLE_IMAGE = re.compile(r'failed to load image: (\S+)')


@contextmanager
def explain_data_errors() -> Iterator[None]:
    """Turn a dataset image that cannot be decoded into an :class:`InputError` naming it.

    mmcv's ``LoadImageFromFile`` only asserts (also from inside DataLoader workers).
    """
    try:
        yield
    except AssertionError as err:
        found = _UNREADABLE_IMAGE.search(str(err))
        if found is None:
            raise
        raise InputError(f'cannot decode image {found.group(1)}: it is not a readable image '
                         '(truncated or corrupt?). Replace or remove it (and its annotation), '
                         'then run again.') from err


_BACKBONES = osp.join('mvit3_dense', 'models', 'backbones', '')


def _chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or during, outermost first."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _raised_in(err: BaseException, folder: str) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and folder in tb.tb_frame.f_code.co_filename


def explain(err: BaseException) -> Optional[str]:
    """The one-line message for an error whose text names the problem and the fix, else None.

    mmengine's registry re-raises errors of built modules with the class prepended; the original
    error (deepest in the chain) is the one explained.
    """
    chain = list(_chain(err))
    for cause in reversed(chain):
        if isinstance(cause, (InputError, CheckpointError)):
            return ' '.join(str(cause).split())
    for cause in reversed(chain):
        if isinstance(cause, ValueError) and _raised_in(cause, _BACKBONES):
            return (f'model.backbone: {cause}. Fix the backbone settings in the config, or with '
                    '--cfg-options model.backbone.KEY=VALUE')
    return None


@contextmanager
def tool_errors() -> Iterator[None]:
    """Stop a tool with ``error: <message>`` (one line, exit status 1) for the errors that say
    what is wrong and what to do; anything else keeps its traceback."""
    try:
        yield
    except Exception as err:  # noqa: BLE001  re-raised unless explained
        message = explain(err)
        if message is None:
            raise
        sys.exit(f'error: {message}')


__all__ = ['InputError', 'explain', 'explain_data_errors', 'tool_errors']
