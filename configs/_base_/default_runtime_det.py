# Runtime shared by the detection configs: mmdet scope, this package's modules, logging.
# The hooks come with each schedule.
default_scope = 'mmdet'
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
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
