# ImageNet-1k at 256x256, what the authors' v1- and v2-based classification recipes share (the
# families' pipelines and batch sizes: imagenet_bs96_256_v1.py, imagenet_bs255_256_v2.py): mmpretrain's
# ImageNet layout (data/imagenet/{train,val} with meta/{train,val}.txt), 8 loader workers, shuffled
# training, top-1/top-5 accuracy. Evaluation in both: short side resized to crop + 32 = 288 (long
# side int()-truncated as mmpretrain's ResizeEdge does) and a 256 centre crop with floor offsets
# (mmcv's CenterCrop rounds); no mean/std normalisation (the data preprocessor only scales to
# [0, 1]).
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
train_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
