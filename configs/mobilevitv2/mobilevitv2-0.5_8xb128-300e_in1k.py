# MobileViTv2-0.5 on ImageNet-1k (Apple ml-cvnets 84d992f
# config/classification/imagenet/mobilevit_v2.yaml, width_multiplier 0.5; arXiv 2206.02680): model,
# data, input convention (Pillow decoding and bicubic resizing, RGB in [0, 1]) and recipe (AdamW
# lr 0.002, weight decay 0.05 except on norms and biases, gradient norm clipped at 10, 20,000
# warm-up iterations, cosine to 0.0002 over 300 epochs, EMA) are those of the v2-based MobileViTv3
# classifiers, which follow the same yaml; MobileViTv2 trains with 128 images per GPU on 8 GPUs.
_base_ = [
    '../_base_/models/mobilevitv3-v2_cls.py', '../_base_/datasets/imagenet_bs255_256_v2.py',
    '../_base_/default_runtime_cls.py', '../_base_/schedules/imagenet_300e_v2.py'
]
model = dict(backbone=dict(arch='mobilevitv2-0.5'), head=dict(in_channels=256))
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
# Learning rate of the total batch of 1,024 (the 20,000 warm-up iterations end in epoch 16).
auto_scale_lr = dict(base_batch_size=1024)
