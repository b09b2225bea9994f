"""The SSDLite prediction head of the MobileViTv3 detectors, as an mmdet SSDHead."""
import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from torch import nn

from mmdet.models.dense_heads import SSDHead
from mmdet.models.utils import select_single_mlvl
from mmdet.registry import MODELS


@MODELS.register_module()
class MobileViTv3SSDHead(SSDHead):
    """SSDLite head as the MobileViTv3 authors built it (cvnets ``ssd`` detector).

    Targets, loss (cross-entropy with 3:1 hard-negative mining, smooth L1 on the box deltas) and
    post-processing are :class:`mmdet.models.dense_heads.SSDHead`'s. What differs (reference
    ``heads.md``; arXiv 2209.15159, Sec. 4.3):

    - One predictor per map outputs boxes and classes together, ``num_anchors * (4 + num_classes
      + 1)`` channels, where mmdet's SSD-Lite head has separate depthwise towers for classes and
      boxes.
      All maps but the last first get a 1x1 projection (+BN+ReLU) to ``proj_channels[i]`` when
      their channels differ, then a separable 3x3 (depthwise 3x3 + BN, pointwise 1x1 with bias);
      the last map gets a plain 1x1 conv with bias.
    - The predictor's channels keep the authors' layout, channel ``k * (4 + C) + j`` for anchor
      ``k``: ``j < 4`` box deltas, then the class logits with background first. :meth:`forward`
      splits them into mmdet's layout (background last), so converted weights need no permutation.
    - Anchors come from :class:`MobileViTv3SSDAnchorGenerator`, laid out on the batch's input size.
    - ``SSDHead`` never sets ``loss_cls`` (its loss is computed in place), but mmdet 3.3.0's
      prediction reads ``self.loss_cls``; it is set to ``None`` here, which selects the softmax.

    Args:
        num_classes (int): Object classes, background excluded. Default: 80.
        in_channels (Sequence[int]): Channels of the six input maps.
        proj_channels (Sequence[int]): Channels the maps are projected to before their predictor.
            Default: (512, 256, 256, 128, 128, 64).
        norm_cfg (dict): Norm layer. Default: BN.
        act_cfg (dict): Activation of the projections. Default: ReLU.
        **kwargs: Other arguments of :class:`SSDHead` (anchor_generator, bbox_coder, train_cfg,
            test_cfg, init_cfg).
    """

    def __init__(self,
                 num_classes=80,
                 in_channels=(80, 128, 256, 128, 128, 64),
                 proj_channels=(512, 256, 256, 128, 128, 64),
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 anchor_generator=dict(type='MobileViTv3SSDAnchorGenerator'),
                 bbox_coder=dict(
                     type='DeltaXYWHBBoxCoder',
                     target_means=[0., 0., 0., 0.],
                     target_stds=[0.1, 0.1, 0.2, 0.2],
                     clip_border=False),
                 **kwargs):
        if len(proj_channels) != len(in_channels):
            raise ValueError(f'proj_channels ({len(proj_channels)}) and in_channels '
                             f'({len(in_channels)}) need one entry per feature map')
        self.proj_channels = list(proj_channels)
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            **kwargs)
        self.loss_cls = None

    def _init_layers(self):
        """Projections and predictors, one per map (see the class docstring)."""
        self.projections = nn.ModuleList()
        self.predictors = nn.ModuleList()
        last = len(self.in_channels) - 1
        for i, (channels, proj, anchors) in enumerate(
                zip(self.in_channels, self.proj_channels, self.num_base_priors)):
            out_channels = anchors * (4 + self.cls_out_channels)
            if i == last:
                self.projections.append(nn.Identity())
                self.predictors.append(nn.Conv2d(channels, out_channels, 1))
                continue
            self.projections.append(
                nn.Identity() if channels == proj else ConvModule(
                    channels, proj, 1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
            self.predictors.append(
                DepthwiseSeparableConvModule(
                    proj, out_channels, 3, padding=1, norm_cfg=None, act_cfg=None,
                    dw_norm_cfg=self.norm_cfg))

    def forward_raw(self, x):
        """The predictors' outputs in the authors' channel layout, one tensor per map."""
        return [pred(proj(feat)) for feat, proj, pred in zip(x, self.projections, self.predictors)]

    def forward(self, x):
        """Class scores (background last, mmdet's convention) and box deltas per map.

        Returns:
            tuple[list[Tensor], list[Tensor]]: ``(N, A * (C + 1), H, W)`` and ``(N, A * 4, H, W)``.
        """
        cls_scores, bbox_preds = [], []
        for out, anchors in zip(self.forward_raw(x), self.num_base_priors):
            n, _, h, w = out.shape
            out = out.view(n, anchors, 4 + self.cls_out_channels, h, w)
            bbox_preds.append(out[:, :, :4].reshape(n, anchors * 4, h, w))
            cls = torch.cat([out[:, :, 5:], out[:, :, 4:5]], dim=2)
            cls_scores.append(cls.reshape(n, anchors * self.cls_out_channels, h, w))
        return cls_scores, bbox_preds

    def get_anchors(self, featmap_sizes, batch_img_metas, device='cuda'):
        """Anchors on the batch's input size (the same for every image) and their valid flags."""
        anchors = self.prior_generator.grid_priors(
            featmap_sizes, device=device, input_size=_input_size(batch_img_metas))
        flags = [
            self.prior_generator.valid_flags(featmap_sizes, meta['pad_shape'], device)
            for meta in batch_img_metas
        ]
        return [anchors] * len(batch_img_metas), flags

    def predict_by_feat(self, cls_scores, bbox_preds, score_factors=None, batch_img_metas=None,
                        cfg=None, rescale=False, with_nms=True):
        """As :meth:`BaseDenseHead.predict_by_feat`, with anchors laid on the batch's input size."""
        if score_factors is not None:
            raise ValueError('the SSD head predicts no score factors')
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        priors = self.prior_generator.grid_priors(
            featmap_sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device,
            input_size=_input_size(batch_img_metas))
        return [
            self._predict_by_feat_single(
                cls_score_list=select_single_mlvl(cls_scores, i, detach=True),
                bbox_pred_list=select_single_mlvl(bbox_preds, i, detach=True),
                score_factor_list=[None] * len(cls_scores),
                mlvl_priors=priors,
                img_meta=meta,
                cfg=cfg,
                rescale=rescale,
                with_nms=with_nms) for i, meta in enumerate(batch_img_metas)
        ]


def _input_size(batch_img_metas):
    """(height, width) of the network input: the padded batch shape, else the image shape."""
    meta = batch_img_metas[0]
    return tuple(meta.get('batch_input_shape', meta.get('pad_shape', meta['img_shape']))[:2])
