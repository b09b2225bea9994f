from . import transforms  # noqa: F401
from .demo_coco import write_demo_coco
from .demo_imagenet import write_demo_imagenet
from .demo_voc import DemoVOCDataset, write_demo_voc
from .synthetic import CLASSES, render_object, render_scene
from .variable_batch import (VariableBatchSampler, VariableRandomResizedCrop, VariableScaleDataset,
                             scale_batch_pairs)

__all__ = ['CLASSES', 'DemoVOCDataset', 'VariableBatchSampler', 'VariableRandomResizedCrop',
           'VariableScaleDataset', 'render_object', 'render_scene', 'scale_batch_pairs',
           'write_demo_coco', 'write_demo_imagenet', 'write_demo_voc']
