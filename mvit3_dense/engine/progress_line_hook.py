"""One short progress line for a training run on a console that shows nothing else.

Used by ``tools/demo/run_demo.py``, which keeps mmengine's log in the work dir only: every
``interval`` iterations the line ``train  150/600  loss 0.8231  12 s left`` is rewritten in place
on a terminal (or appended as a new line when the stream is a file or a pipe).
"""
import time
from typing import Optional, TextIO

from mmengine.hooks import Hook


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    minutes, seconds = divmod(seconds, 60)
    return f'{minutes} min {seconds:02d} s'


class ProgressLineHook(Hook):
    """Write ``train  ITER/MAX  loss L  T left`` to ``stream`` every ``interval`` iterations.

    The time left is extrapolated from the iterations run by this process (a resumed run counts
    from where it resumed); the loss is the one of the latest iteration.
    """

    priority = 'LOW'

    def __init__(self, stream: TextIO, interval: int = 10) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.stream = stream
        self.interval = interval
        self._start: Optional[float] = None
        self._first_iter = 0
        self._wrote = False

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()
        self._first_iter = runner.iter

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done, total = runner.iter + 1, runner.max_iters
        if done % self.interval and done != total:
            return
        rate = (time.perf_counter() - self._start) / max(done - self._first_iter, 1)
        loss = (outputs or {}).get('loss')
        loss = f'  loss {float(loss):.4f}' if loss is not None else ''
        left = _duration(rate * (total - done))
        self._write(f'  train {done:>{len(str(total))}}/{total}{loss}  {left} left')

    def after_train(self, runner) -> None:
        if self._wrote and self._is_terminal():
            self.stream.write('\n')
            self.stream.flush()

    def _is_terminal(self) -> bool:
        return bool(getattr(self.stream, 'isatty', lambda: False)())

    def _write(self, line: str) -> None:
        if self._is_terminal():
            self.stream.write('\r' + line.ljust(60))
        else:
            self.stream.write(line + '\n')
        self.stream.flush()
        self._wrote = True


__all__ = ['ProgressLineHook']
