from .demo_coco import write_demo_coco
from .demo_voc import DemoVOCDataset, write_demo_voc
from .synthetic import CLASSES, render_scene

__all__ = ['CLASSES', 'DemoVOCDataset', 'render_scene', 'write_demo_coco', 'write_demo_voc']
