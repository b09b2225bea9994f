"""Input transforms of the authors' det evaluation path.

None is needed: mmcv's own transforms, with the options the COCO configs set
(``configs/_base_/datasets/coco_detection_320x320.py``), give the authors' inputs exactly
(tests/pipeline/test_det_authors.py):

- v1-based code (``cv2.imread``, ``cv2.resize(INTER_LINEAR)`` to 320x320): ``LoadImageFromFile``
  and ``Resize(scale=(320, 320), keep_ratio=False)`` as they are; the data preprocessor keeps BGR.
- v2-based code (``Image.open(...).convert('RGB')``, PIL bicubic to 320x320):
  ``LoadImageFromFile(imdecode_backend='pillow', color_type='color_ignore_orientation')`` (the
  authors apply no EXIF rotation) and ``Resize(..., backend='pillow', interpolation='bicubic')``;
  the data preprocessor converts to RGB.
"""
