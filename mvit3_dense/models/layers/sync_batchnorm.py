import torch
import torch.distributed as dist
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm


class CPUSyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are all-reduced over processes, on the CPU (gloo).

    PyTorch's ``SyncBatchNorm`` refuses CPU tensors, and DDP refuses it in CPU modules, so the
    recipes' ``SyncBN`` could not train with several CPU processes. This layer all-reduces the
    sums, sums of squares and counts of the batch (gradients flow through the reduction) and
    otherwise behaves as ``BatchNorm``. On machines without CUDA it is what ``'SyncBN'`` builds;
    with CUDA, ``'SyncBN'`` stays PyTorch's.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f'expected at least 2D input (got {x.dim()}D input)')

    def forward(self, x):
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.process_group) > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        count = x.new_tensor([x.numel() // channels])
        stats = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]),
                           group=self.process_group or dist.group.WORLD)
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels:2 * channels] / total - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else \
                    1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = [1, channels] + [1] * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


if not torch.cuda.is_available():
    MODELS.register_module('SyncBN', module=CPUSyncBatchNorm, force=True)
