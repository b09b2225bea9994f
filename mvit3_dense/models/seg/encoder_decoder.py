"""mmseg's EncoderDecoder with the MobileViTv3 authors' test-time input and logit resizing."""
from typing import List, Optional, Tuple

import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptSampleList, SampleList


@MODELS.register_module()
class MobileViTv3EncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose inference follows the authors' evaluation script.

    Training is mmseg's. At test time (``predict``) three steps differ from mmseg:

    1. The input is resized (bilinear) so that its height and width are floored to a multiple of
       the output stride (mmseg pads, if anything), with ``align_corners=False`` in the v1-based
       code (ml-cvnets d38a116 ``engine/eval_segmentation.py:131-136``) and ``True`` in the
       v2-based code (ml-cvnets 84d992f ``engine/eval_segmentation.py:75-82``).
    2. ``logits_to_original='nearest'`` (v1-based): the head's logits are up-sampled bilinearly to
       the network input (the head's ``align_corners``), then to the original image size with
       NEAREST (v1 ``engine/eval_segmentation.py:155-157``).
       ``logits_to_original='bilinear'`` (v2-based): the head's 1/OS logits are resized once,
       bilinear with the head's ``align_corners``, straight to the original size
       (v2 ``engine/eval_segmentation.py:93``, ``cvnets/models/segmentation/heads/
       base_seg_head.py:78-82, 94-101``). mmseg resizes twice (to the input, then to the original
       size).
    3. Padding is not supported: the authors never pad test inputs.

    Args:
        input_stride (int, optional): Multiple the test input is floored to. Default: the
            backbone's ``output_stride``.
        stride_align_corners (bool): ``align_corners`` of that input resize. Default: False.
        logits_to_original (str): ``'nearest'`` or ``'bilinear'``, see above. Default:
            ``'nearest'``.
        **kwargs: Arguments of :class:`mmseg.models.segmentors.EncoderDecoder`.
    """

    _LOGIT_MODES = ('nearest', 'bilinear')

    def __init__(self, input_stride: Optional[int] = None, stride_align_corners: bool = False,
                 logits_to_original: str = 'nearest', **kwargs) -> None:
        super().__init__(**kwargs)
        if logits_to_original not in self._LOGIT_MODES:
            raise ValueError(f'logits_to_original must be one of {self._LOGIT_MODES}, '
                             f'got {logits_to_original!r}')
        if input_stride is None:
            input_stride = getattr(self.backbone, 'output_stride', None)
        if not isinstance(input_stride, int) or input_stride <= 0:
            raise ValueError('input_stride must be a positive int (or None with a backbone that '
                             f'has an output_stride), got {input_stride!r}')
        self.input_stride = input_stride
        self.stride_align_corners = stride_align_corners
        self.logits_to_original = logits_to_original

    def resize_to_stride(self, inputs: Tensor) -> Tensor:
        """``inputs`` (N, C, H, W) resized so that H and W are multiples of ``input_stride``
        (floored), as the authors before the forward pass; unchanged if they already are."""
        height, width = inputs.shape[2:]
        new_h = height // self.input_stride * self.input_stride
        new_w = width // self.input_stride * self.input_stride
        if new_h == 0 or new_w == 0:
            raise ValueError(f'a test input of {height}x{width} is smaller than the output stride '
                             f'{self.input_stride}: resize it to at least that size')
        if (new_h, new_w) == (height, width):
            return inputs
        return F.interpolate(inputs, size=(new_h, new_w), mode='bilinear',
                             align_corners=self.stride_align_corners)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Segmentation of ``inputs`` (N, C, H, W) as the authors evaluate (see the class
        docstring); each returned sample gets ``seg_logits`` and ``pred_sem_seg`` at its
        ``ori_shape`` (the input's size when ``data_samples`` is None)."""
        inputs, metas = self.prepare_test_inputs(inputs, data_samples)
        logits = self.decode_head(self.extract_feat(inputs))
        return self.logits_to_samples(logits, inputs.shape[2:], metas, data_samples)

    def prepare_test_inputs(self, inputs: Tensor,
                            data_samples: OptSampleList = None) -> Tuple[Tensor, List[dict]]:
        """Step 1 of the class docstring: the network's input and the images' metas, checked.
        Split from :meth:`predict` so that an exported network can stand in for
        ``decode_head(extract_feat(.))`` (``mvit3_dense.deploy.ExportedModel``)."""
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError("MobileViTv3EncoderDecoder evaluates whole images as the authors: "
                             "set test_cfg=dict(mode='whole')")
        if data_samples is None:
            metas = [dict(ori_shape=inputs.shape[2:])] * inputs.shape[0]
        else:
            metas = [sample.metainfo for sample in data_samples]
        for meta in metas:
            if any(meta.get('padding_size', [0] * 4)):
                raise ValueError('padded test inputs are not supported (the authors never pad): '
                                 'remove test_cfg size/size_divisor from the data_preprocessor')
        return self.resize_to_stride(inputs), metas

    def logits_to_samples(self, logits: Tensor, input_shape: Tuple[int, int], metas: List[dict],
                          data_samples: OptSampleList = None) -> SampleList:
        """Steps 2 and 3 of the class docstring: the head's logits (1/OS of ``input_shape``) to
        per-image ``seg_logits`` and ``pred_sem_seg`` at the original size."""
        if self.logits_to_original == 'nearest':
            logits = resize(logits, size=tuple(input_shape), mode='bilinear',
                            align_corners=self.align_corners)
        return self._to_original(logits, metas, data_samples)

    def _to_original(self, logits: Tensor, metas: List[dict],
                     data_samples: OptSampleList) -> SampleList:
        """Per image: undo a flip, resize to ``ori_shape`` (the chosen mode), arg-max."""
        if data_samples is None:
            data_samples = [SegDataSample() for _ in metas]
        for i, (sample, meta) in enumerate(zip(data_samples, metas)):
            one = logits[i:i + 1]
            if meta.get('flip', False):
                dims = (3, ) if meta.get('flip_direction') == 'horizontal' else (2, )
                one = one.flip(dims=dims)
            if self.logits_to_original == 'nearest':
                one = F.interpolate(one, size=tuple(meta['ori_shape'][:2]), mode='nearest')
            else:
                one = resize(one, size=tuple(meta['ori_shape'][:2]), mode='bilinear',
                             align_corners=self.align_corners, warning=False)
            one = one[0]
            if one.shape[0] > 1:
                pred = one.argmax(dim=0, keepdim=True)
            else:
                one = one.sigmoid()
                pred = (one > self.decode_head.threshold).to(one)
            sample.set_data(dict(seg_logits=PixelData(data=one), pred_sem_seg=PixelData(data=pred)))
        return data_samples
