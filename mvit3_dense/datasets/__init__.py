from . import transforms  # noqa: F401
from .demo_coco import write_demo_coco
from .demo_imagenet import write_demo_imagenet
from .demo_sets import DEMO_SETS, DemoSet, count_images, write_demo_data, write_demo_set
from .demo_voc import DemoVOCDataset, write_demo_voc
from .synthetic import CLASSES, render_object, render_scene
from .variable_batch import (VariableBatchSampler, VariableRandomResizedCrop, VariableScaleDataset,
                             scale_batch_pairs)

__all__ = ['CLASSES', 'DEMO_SETS', 'DemoSet', 'DemoVOCDataset', 'VariableBatchSampler',
           'VariableRandomResizedCrop', 'VariableScaleDataset', 'count_images', 'render_object',
           'render_scene', 'scale_batch_pairs', 'write_demo_coco', 'write_demo_data',
           'write_demo_imagenet', 'write_demo_set', 'write_demo_voc']
