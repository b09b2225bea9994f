import torch.nn as nn


class TensorMode(nn.Module):
    """An OpenMMLab model's network forward (``mode='tensor'``) as a plain module.

    Skips the data preprocessor and post-processing, so that tracing, profiling and export see
    only the network.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')
