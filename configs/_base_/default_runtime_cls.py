# Runtime shared by the ImageNet classification configs: mmpretrain scope, this package's modules.
# The hooks come with each schedule.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mvit3_dense'], allow_failed_imports=False)
# mmengine's Runner with checkpoint loads that run no code (strict when testing or resuming)
# and checkpoint saves that a killed run cannot lose (mvit3_dense/engine/runner.py).
runner_type = 'SafeCheckpointRunner'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
