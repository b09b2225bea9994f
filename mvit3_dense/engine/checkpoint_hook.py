import hashlib
import os
import os.path as osp
import pickle
import re

from mmengine.dist import is_main_process, master_only
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ..utils.atomic_io import atomic_write, remove_stale_temp_files
from ..utils.checkpoint import load_checkpoint_file


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with its steps reordered so that a killed run keeps a
    loadable checkpoint (mmengine 0.10.7, ``hooks/checkpoint_hook.py``,
    ``_save_checkpoint_with_step`` and ``_save_best_checkpoint``).

    mmengine removes the oldest (or the previous best) checkpoint before writing the new one and
    writes ``last_checkpoint`` in place, so a SIGKILL in between leaves no checkpoint, or a
    ``last_checkpoint`` naming a removed file. Here the new checkpoint is written completely
    (through a temporary file and a rename), then ``last_checkpoint`` is replaced atomically, and
    only then is the superseded checkpoint removed. At the start of training, temporary files
    left by a killed save are removed, and so are checkpoints older than those kept that a killed
    run had not yet removed. The checkpoints kept and their contents are mmengine's; published
    checkpoints (``published_keys``) are read back through the project's safe loader.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process() or not isinstance(self.file_backend, LocalBackend):
            return
        for directory in sorted({self.out_dir, runner.work_dir}):
            for name in remove_stale_temp_files(directory):
                runner.logger.info(f'Removed {name}, left in {directory} by an interrupted save')
        if self.max_keep_ckpts > 0 and self.keep_ckpt_ids:
            self._remove_superseded(runner, min(self.keep_ckpt_ids))

    def _remove_superseded(self, runner, oldest_kept: int) -> None:
        """Remove the hook's checkpoints older than the oldest one it keeps."""
        head, _, tail = self.filename_tmpl.partition('{}')
        pattern = re.compile(f'^{re.escape(head)}(\\d+){re.escape(tail)}$')
        try:
            names = os.listdir(self.out_dir)
        except OSError:
            return
        for name in names:
            found = pattern.match(name)
            if found and int(found.group(1)) < oldest_kept:
                self._remove(runner, osp.join(self.out_dir, name))

    def _remove(self, runner, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            self.file_backend.rmtree(path)  # checkpoints saved by deepspeed are folders
        else:
            return
        runner.logger.info(f'Removed the superseded checkpoint {path}')

    def _save_checkpoint_with_step(self, runner, step, meta):
        superseded = None
        # The kept ids are updated before saving, as mmengine does, so that the checkpoint
        # records them; the file leaving the list is removed only after the new one is saved.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                superseded = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'), 'w')
        if superseded is not None and superseded != step:
            self._remove(runner, self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(superseded)))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        # Hide the previous best checkpoints from mmengine, which would remove them before
        # writing the new one; remove them here once the new one is written.
        single = len(self.key_indicators) == 1
        previous = {None: self.best_ckpt_path} if single else dict(self.best_ckpt_path_dict)
        if single:
            self.best_ckpt_path = None
        else:
            self.best_ckpt_path_dict.update({k: None for k in previous})
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            for key, old in previous.items():
                new = self.best_ckpt_path if key is None else self.best_ckpt_path_dict.get(key)
                if new is None:  # not improved: keep the previous best
                    if key is None:
                        self.best_ckpt_path = old
                    else:
                        self.best_ckpt_path_dict[key] = old
                elif old and old != new and is_main_process():
                    self._remove(runner, old)

    @master_only
    def _publish_model(self, runner, ckpt_path: str) -> None:
        from mmengine.runner import save_checkpoint
        checkpoint = load_checkpoint_file(ckpt_path)
        removed = [key for key in list(checkpoint) if key not in self.published_keys]
        for key in removed:
            checkpoint.pop(key)
        if removed:
            runner.logger.info(f'Keys {removed} are left out of the published checkpoint '
                               '(not in published_keys)')
        sha = hashlib.sha256(pickle.dumps(checkpoint)).hexdigest()
        final_path = osp.splitext(ckpt_path)[0] + f'-{sha[:8]}.pth'
        save_checkpoint(checkpoint, final_path)
        runner.logger.info(f'The checkpoint ({ckpt_path}) is published to {final_path}.')
