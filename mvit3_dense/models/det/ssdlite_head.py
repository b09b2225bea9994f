"""The SSDLite prediction head of the MobileViTv3 detectors, as an mmdet SSDHead."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torchvision.ops import batched_nms, nms

from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList, OptConfigType

from .box_coder import decode_normalized


@MODELS.register_module()
class MobileViTv3SSDHead(SSDHead):
    """SSDLite head as the MobileViTv3 authors built it (cvnets ``ssd`` detector).

    Targets and loss (cross-entropy with 3:1 hard-negative mining, smooth L1 on the box deltas) are
    :class:`mmdet.models.dense_heads.SSDHead`'s. What differs (reference ``heads.md``;
    arXiv 2209.15159, Sec. 4.3):

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
    - Prediction follows the authors' ``SingleShotDetector.predict`` (v1-based code: cvnets
      d38a116 ``cvnets/models/detection/ssd.py:234-292, 359-372``; v2-based code: cvnets 84d992f
      ``ssd.py:401-490``), not mmdet's per-level candidate selection (whose ``nms_pre=-1`` also
      drops each level's last candidate in mmdet 3.3.0): softmax over the classes with the
      background, boxes decoded in fractions of the input, then per class (see ``test_cfg``).
    - ``SSDHead`` never sets ``loss_cls`` (its loss is computed in place), but mmdet 3.3.0's
      prediction reads ``self.loss_cls``; it is set to ``None`` here, which selects the softmax.

    ``test_cfg`` keys (all optional but ``nms``):

    - ``score_thr``: keep class probabilities strictly above it (v1 code 0.05, v2 code 0.01);
    - ``nms_pre``: keep the best ``nms_pre`` candidates **of each class** before NMS (v2: 400;
      -1 keeps all, as v1);
    - ``nms``: ``dict(type='nms', iou_threshold=...)``, torchvision's NMS within each class (0.5);
    - ``max_per_class``: keep the first ``max_per_class`` boxes of each class after NMS; results
      stay grouped by class (v1: 200);
    - ``max_per_img``: keep the best ``max_per_img`` boxes of the image after NMS; results are
      sorted by score, as torchvision's ``batched_nms`` returns them (v2: 200). Set one of
      ``max_per_class`` and ``max_per_img`` (-1 or absent: no limit).

    Boxes leave :meth:`predict_by_feat` in pixels of the network input (unclipped, as the
    authors' ``predict``) or, with ``rescale=True``, scaled to the original image and clipped to
    ``[0, W] x [0, H]`` as the authors' evaluation (``engine/eval_detection.py``: v1 ``:93-96``,
    v2 ``:109-110``).

    Args:
        num_classes (int): Object classes, background excluded. Default: 80.
        in_channels (Sequence[int]): Channels of the six input maps.
        proj_channels (Sequence[int]): Channels the maps are projected to before their predictor.
            Default: (512, 256, 256, 128, 128, 64).
        norm_cfg (dict): Norm layer. Default: BN.
        act_cfg (dict): Activation of the projections. Default: ReLU.
        anchor_generator (dict): Prior generator. Default:
            :class:`MobileViTv3SSDAnchorGenerator` with its defaults.
        bbox_coder (dict): Box coder; only its ``target_stds`` are used to decode, its
            ``target_means`` must be zeros. Default: variances 0.1 (centre) and 0.2 (size).
        **kwargs: Other arguments of :class:`SSDHead` (train_cfg, test_cfg, init_cfg).
    """

    def __init__(self,
                 num_classes: int = 80,
                 in_channels: Sequence[int] = (80, 128, 256, 128, 128, 64),
                 proj_channels: Sequence[int] = (512, 256, 256, 128, 128, 64),
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 anchor_generator: ConfigType = dict(type='MobileViTv3SSDAnchorGenerator'),
                 bbox_coder: ConfigType = dict(
                     type='DeltaXYWHBBoxCoder',
                     target_means=[0., 0., 0., 0.],
                     target_stds=[0.1, 0.1, 0.2, 0.2],
                     clip_border=False),
                 **kwargs) -> None:
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
        if self.test_cfg is not None:
            check_test_cfg(self.test_cfg)  # a config mistake fails when the model is built

    def _init_layers(self) -> None:
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

    def forward_raw(self, x: Sequence[Tensor]) -> List[Tensor]:
        """The predictors' outputs in the authors' channel layout, one tensor per map."""
        return [pred(proj(feat)) for feat, proj, pred in zip(x, self.projections, self.predictors)]

    def forward(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
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

    def get_anchors(self,
                    featmap_sizes: List[Tuple[int, int]],
                    batch_img_metas: List[dict],
                    device: str = 'cuda') -> Tuple[List[List[Tensor]], List[List[Tensor]]]:
        """Anchors on the batch's input size (the same for every image) and their valid flags."""
        anchors = self.prior_generator.grid_priors(
            featmap_sizes, device=device, input_size=_input_size(batch_img_metas))
        flags = [
            self.prior_generator.valid_flags(featmap_sizes, meta['pad_shape'], device)
            for meta in batch_img_metas
        ]
        return [anchors] * len(batch_img_metas), flags

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Detections per image, as the authors' ``predict`` (see the class docstring).

        Returns:
            list[InstanceData]: per image ``bboxes`` (x1, y1, x2, y2 in pixels), ``scores`` and
            ``labels`` (0-based, background excluded).
        """
        if score_factors is not None:
            raise ValueError('the SSD head predicts no score factors')
        cfg = check_test_cfg(self.test_cfg if cfg is None else cfg)
        if any(self.bbox_coder.means):
            raise ValueError('the authors\' box decoding has no means: set the bbox_coder\'s '
                             'target_means to [0, 0, 0, 0]')
        dtype, device = cls_scores[0].dtype, cls_scores[0].device
        priors = torch.cat([
            self.prior_generator.single_level_normalized_priors(score.shape[-2:], i, dtype, device)
            for i, score in enumerate(cls_scores)
        ])
        input_size = _input_size(batch_img_metas)
        results = []
        for i, meta in enumerate(batch_img_metas):
            logits = torch.cat([
                score[i].detach().permute(1, 2, 0).reshape(-1, self.cls_out_channels)
                for score in cls_scores
            ])
            deltas = torch.cat(
                [pred[i].detach().permute(1, 2, 0).reshape(-1, 4) for pred in bbox_preds])
            # Softmax over the authors' class order (background first), then drop the background.
            probs = torch.cat([logits[:, -1:], logits[:, :-1]], dim=1).softmax(dim=-1)[:, 1:]
            boxes = decode_normalized(deltas, priors, self.bbox_coder.stds)
            results.append(
                self._detections(probs, boxes, meta, input_size, cfg, rescale, with_nms))
        return results

    def _detections(self, probs: Tensor, boxes: Tensor, img_meta: dict,
                    input_size: Tuple[int, int], cfg: ConfigType, rescale: bool,
                    with_nms: bool) -> InstanceData:
        """Per-class selection and NMS of one image; ``boxes`` in fractions of the input."""
        score_thr = cfg.get('score_thr', 0.)
        nms_pre = cfg.get('nms_pre', -1)
        max_per_class = cfg.get('max_per_class', -1)
        max_per_img = cfg.get('max_per_img', -1)
        iou_thr = cfg['nms']['iou_threshold']
        all_boxes, all_scores, all_labels = [], [], []
        for label in range(probs.shape[1]):
            scores = probs[:, label]
            mask = scores > score_thr
            scores = scores[mask]
            if scores.numel() == 0:
                continue
            cls_boxes = boxes[mask]
            if nms_pre > 0:
                scores, order = scores.topk(min(nms_pre, scores.numel()))
                cls_boxes = cls_boxes[order]
            if with_nms and max_per_img <= 0:
                keep = nms(cls_boxes, scores, iou_thr)
                if max_per_class > 0:
                    keep = keep[:max_per_class]
                cls_boxes, scores = cls_boxes[keep], scores[keep]
            all_boxes.append(cls_boxes)
            all_scores.append(scores)
            all_labels.append(torch.full_like(scores, label, dtype=torch.long))
        results = InstanceData()
        if not all_scores:
            results.bboxes = boxes.new_zeros((0, 4))
            results.scores = probs.new_zeros((0, ))
            results.labels = torch.zeros((0, ), dtype=torch.long, device=probs.device)
            return results
        boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
        if with_nms and max_per_img > 0:
            # The authors' class indices (1-based) set torchvision's per-class box offsets.
            keep = batched_nms(boxes, scores, labels + 1, iou_thr)[:max_per_img]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        height, width = input_size
        if rescale:
            scale_w, scale_h = img_meta['scale_factor'][:2]
            width, height = width / scale_w, height / scale_h
        boxes = boxes * boxes.new_tensor([width, height, width, height])
        if rescale:
            ori_h, ori_w = img_meta['ori_shape'][:2]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, ori_w)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, ori_h)
        results.bboxes, results.scores, results.labels = boxes, scores, labels
        return results


TEST_CFG_KEYS = ('score_thr', 'nms_pre', 'nms', 'max_per_class', 'max_per_img')


def check_test_cfg(cfg: dict) -> dict:
    """``cfg`` if :class:`MobileViTv3SSDHead` can apply it, else a ValueError saying what to fix."""
    if cfg is None:
        raise ValueError('MobileViTv3SSDHead needs a test_cfg to predict, e.g. '
                         "dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), "
                         'max_per_class=200)')
    unknown = sorted(set(cfg) - set(TEST_CFG_KEYS))
    if unknown:
        raise ValueError(f'MobileViTv3SSDHead test_cfg: unknown keys {unknown}; it takes '
                         f'{list(TEST_CFG_KEYS)} (see the head\'s docstring)')
    nms_cfg = cfg.get('nms')
    if not nms_cfg or nms_cfg.get('type', 'nms') != 'nms' or 'iou_threshold' not in nms_cfg:
        raise ValueError("MobileViTv3SSDHead test_cfg.nms must be dict(type='nms', "
                         f'iou_threshold=...), got {nms_cfg}')
    if cfg.get('max_per_class', -1) > 0 and cfg.get('max_per_img', -1) > 0:
        raise ValueError('MobileViTv3SSDHead test_cfg: set max_per_class (results grouped by '
                         'class, the v1-based code) or max_per_img (sorted by score, the '
                         'v2-based code), not both; -1 disables the other')
    return cfg


def _input_size(batch_img_metas: List[dict]) -> Tuple[int, int]:
    """(height, width) of the network input: the padded batch shape, else the image shape."""
    meta = batch_img_metas[0]
    return tuple(meta.get('batch_input_shape', meta.get('pad_shape', meta['img_shape']))[:2])
