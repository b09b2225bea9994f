"""Core ML ML programs (``.mlpackage``) of backbones, classifiers, DeepLabv3 and SSDLite models.

The wrapper of :func:`mvit3_dense.utils.export.export_wrapper` is converted with coremltools to
an ML program (``convert_to='mlprogram'``) computing in float32, so that the package holds the
same network as PyTorch and the ONNX / ExecuTorch exports (coremltools' default for ML programs
would be float16). The input is named ``input`` and keeps the example's fixed shape; the outputs
carry the names of :func:`export_wrapper`.

Route: ``torch.export.export`` (an ``ExportedProgram`` in the ATen dialect, which coremltools
reads since 8.0). ``torch.jit.trace`` was tried first and fails on torch 2.14.1 with
coremltools 9.0: the MobileViT blocks' ``int(math.ceil(...))`` of the feature-map size is
recorded as an ``aten::int`` of a 1-element tensor, which the TorchScript frontend's ``int`` op
cannot turn into a constant ("only 0-dimensional arrays can be converted to Python scalars").
coremltools 9.0 warns at import that torch 2.14.1 is newer than the most recent version it was
tested with (2.7.0); every model of this toolkit converts regardless, and the validation below
checks what was written.

Minimum deployment target: iOS 15 / macOS 12, the oldest that runs ML programs; every operator
of these networks exists in that opset, so a newer target would only narrow the devices.

Validation (the package is loaded back from disk, not the in-memory model): coremltools' own
loader reads the spec (``MLModel(..., skip_model_load=True)``), which must be an ML program whose
single input and outputs carry the expected names and the exact shapes PyTorch gives for the
example, whose ``main`` function holds operators besides constants, and whose weight file
exists. Core ML itself runs on Apple devices only (macOS, iOS); on Linux the package cannot be
loaded for prediction, so it is not run here: compare it with PyTorch on a Mac
(``MLModel(path).predict({'input': x})``).

The package (a directory) is written beside the target under a temporary name, validated there
and then renamed into place, readable by all; a failed conversion or validation leaves nothing at
the target, and an existing package is replaced only by a complete one.
"""
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .errors import InputError

__all__ = ['CoreMLExportError', 'export_coreml', 'package_summary']

# Outputs of export_wrapper and what they hold (mvit3_dense/utils/export.py).
_OUTPUT_MEANING = {
    'logits': 'class logits (classifier: per image; DeepLabv3: per pixel at 1/OS of the input, '
              'not resized)',
    'scores': 'SSDLite class logits per anchor, background last',
    'boxes': 'SSDLite box regressions (dx, dy, dw, dh) against the anchors, not decoded',
}


class CoreMLExportError(InputError):
    """Core ML conversion or validation of a model failed; the message says which and why.

    An :class:`InputError`, so that the tools report it in one line: the model a config builds
    is the input that cannot be exported.
    """


def _require_coremltools():
    try:
        import coremltools  # noqa: F401
    except ImportError as error:
        raise InputError('exporting a Core ML package (.mlpackage) needs coremltools: '
                         'pip install -r requirements/deploy.txt -c requirements/runtime.txt'
                         ) from error


# coremltools' graph pass that folds a per-channel ``mul`` + ``add`` (the affine step of a
# GroupNorm, as its torch frontend writes it) into a ``batch_norm`` of zero mean and unit variance
# keeps batch_norm's default epsilon 1e-5, so it scales the output by 1/sqrt(1 + 1e-5)
# (coremltools/converters/mil/mil/passes/defs/optimize_elementwise_binary.py,
# fuse_elementwise_to_batchnorm). MobileViTv2 and the v3 0.5-1.0 backbones normalise with
# GroupNorm(1, C); without the pass the program keeps PyTorch's mul + add.
_SKIPPED_PASSES = {'common::fuse_elementwise_to_batchnorm'}


def _pass_pipeline(ct):
    pipeline = ct.PassPipeline.DEFAULT  # a new pipeline on each access
    pipeline.remove_passes(_SKIPPED_PASSES)
    return pipeline


def _model_name(wrapper: nn.Module) -> str:
    """``Wrapper(InnerModel)`` for the error messages."""
    inner = getattr(wrapper, 'model', None) or getattr(wrapper, 'backbone', None)
    name = type(wrapper).__name__
    return f'{name}({type(inner).__name__})' if inner is not None else name


def _shapes(outputs) -> List[Tuple[int, ...]]:
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs, )
    return [tuple(o.shape) for o in outputs]


def _output_description(name: str, shape: Sequence[int]) -> str:
    meaning = _OUTPUT_MEANING.get(name)
    if meaning is None and name.startswith('feat'):
        meaning = f'backbone feature map of stage {name[4:]}'
    dims = 'x'.join(map(str, shape))
    return f'float32 {dims}' + (f': {meaning}' if meaning else '')


def _mil_ops(spec) -> list:
    function = spec.mlProgram.functions['main']
    return list(function.block_specializations[function.opset].operations)


def package_summary(path: Union[str, Path]) -> Dict[str, object]:
    """What a saved ``.mlpackage`` holds, read with coremltools' loader (no prediction).

    Returns:
        dict: ``inputs`` / ``outputs`` (name -> shape tuple, in order), ``metadata``
        (``user_defined_metadata``), ``ops`` (MIL operator type -> count, constants left out),
        ``weights`` (float values stored in the constants of rank >= 1, i.e. the network's
        parameters as the program keeps them), ``weight_types`` (their data types, e.g.
        ``{'FLOAT32'}``), ``opset``, ``spec_version``.
    """
    import coremltools as ct
    from coremltools.proto import MIL_pb2

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    if spec.WhichOneof('Type') != 'mlProgram':
        raise CoreMLExportError(f'{path}: not an ML program (spec type '
                                f'{spec.WhichOneof("Type")!r})')
    ops: Dict[str, int] = {}
    weights, weight_types = 0, set()
    floats = (MIL_pb2.FLOAT32, MIL_pb2.FLOAT16)
    for op in _mil_ops(spec):
        if op.type != 'const':
            ops[op.type] = ops.get(op.type, 0) + 1
            continue
        value = op.outputs[0].type.tensorType
        if value.dataType in floats and value.rank >= 1:
            weights += int(np.prod([d.constant.size for d in value.dimensions]))
            weight_types.add(MIL_pb2.DataType.Name(value.dataType))

    def shapes(features):
        return {f.name: tuple(f.type.multiArrayType.shape) for f in features}

    function = spec.mlProgram.functions['main']
    return dict(
        inputs=shapes(spec.description.input),
        outputs=shapes(spec.description.output),
        metadata=dict(spec.description.metadata.userDefined),
        ops=ops,
        weights=weights,
        weight_types=weight_types,
        opset=function.opset,
        spec_version=spec.specificationVersion)


def _validate(package: Path, example: Tensor, expected: Dict[str, Tuple[int, ...]]) -> None:
    """Raise ``ValueError`` naming the first property of the saved package that is wrong."""
    summary = package_summary(package)
    inputs = {'input': tuple(example.shape)}
    if summary['inputs'] != inputs:
        raise ValueError(f'inputs {summary["inputs"]}, expected {inputs}')
    if list(summary['outputs'].items()) != list(expected.items()):
        raise ValueError(f'outputs {summary["outputs"]}, expected {expected}')
    if not summary['ops']:
        raise ValueError('the MIL program holds no operators besides constants')
    if not (package / 'Data' / 'com.apple.CoreML' / 'weights' / 'weight.bin').is_file():
        raise ValueError('the package has no weight file')


def _make_readable(root: Path) -> None:
    """Directories 0755 and files 0644 (mkdtemp creates owner-only folders), each file synced."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            file = os.path.join(directory, name)
            os.chmod(file, 0o644)
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _move_into_place(package: Path, path: Path) -> None:
    """Rename the finished ``package`` to ``path``; an existing ``path`` (folder or file) is
    first renamed aside into the staging folder and put back if the second rename fails.
    Directories cannot be swapped in one rename, so ``path`` is briefly absent, but never
    incomplete."""
    if not os.path.lexists(path):
        os.replace(package, path)
        return
    old = package.parent / (package.name + '.old')  # removed with the staging folder
    os.replace(path, old)
    try:
        os.replace(package, path)
    except BaseException:
        os.replace(old, path)
        raise


def export_coreml(wrapper: nn.Module,
                  output_names: List[str],
                  example: Tensor,
                  path: Union[str, Path],
                  *,
                  metadata: Optional[Dict[str, str]] = None) -> Path:
    """Convert ``wrapper`` to a Core ML ML program and write it to ``path`` (a ``.mlpackage``).

    Args:
        wrapper (nn.Module): Takes the normalised NCHW float image, returns a tensor or a tuple
            of tensors (:func:`mvit3_dense.utils.export.export_wrapper`).
        output_names (list[str]): One name per output, in order.
        example (Tensor): An input of the shape the program keeps (batch included).
        path (str | Path): The package to write; must end in ``.mlpackage``. An existing one is
            replaced.
        metadata (dict[str, str], optional): Stored in ``user_defined_metadata`` (e.g.
            :func:`mvit3_dense.utils.export.input_metadata` of the config); each output gets a
            short description (shape and meaning).

    Returns:
        Path: ``path``.

    Raises:
        CoreMLExportError: The conversion or the validation of the saved package failed;
            nothing is left at ``path`` (an existing package there is kept).
    """
    path = Path(path)
    if path.suffix != '.mlpackage':
        raise InputError(f'{path}: a Core ML ML program is a package; name it .mlpackage')
    _require_coremltools()
    import coremltools as ct

    name = _model_name(wrapper)
    wrapper = wrapper.eval()
    with torch.no_grad():
        shapes = _shapes(wrapper(example))
    if len(shapes) != len(output_names):
        raise ValueError(f'{name} returns {len(shapes)} outputs but {len(output_names)} names '
                         f'were given ({", ".join(output_names)})')
    expected = dict(zip(output_names, shapes))

    try:
        with torch.no_grad(), warnings.catch_warnings():
            # coremltools 9.0 calls its own deprecated registry lookup once per graph node.
            warnings.filterwarnings('ignore', message='Function _TORCH_OPS_REGISTRY',
                                    category=DeprecationWarning)
            program = torch.export.export(wrapper, (example, )).run_decompositions({})
            model = ct.convert(
                program,
                inputs=[ct.TensorType(name='input', shape=tuple(example.shape))],
                outputs=[ct.TensorType(name=n) for n in output_names],
                convert_to='mlprogram',
                compute_precision=ct.precision.FLOAT32,
                minimum_deployment_target=ct.target.iOS15,
                pass_pipeline=_pass_pipeline(ct))
    except Exception as error:
        raise CoreMLExportError(
            f'Core ML conversion of {name} failed: {type(error).__name__}: {error}. Export it '
            'as .onnx or .pte instead.') from error
    outputs = '; '.join(f'{n}: {_output_description(n, s)}' for n, s in expected.items())
    model.short_description = f'{name} (converted from PyTorch with torch.export); {outputs}'
    for key, value in (metadata or {}).items():
        model.user_defined_metadata[str(key)] = str(value)
    model.user_defined_metadata['outputs'] = outputs
    spec_outputs = model.get_spec().description.output
    for feature in spec_outputs:
        model.output_description[feature.name] = _output_description(
            feature.name, expected.get(feature.name, ()))
    model.input_description['input'] = 'normalised image, float32 ' + 'x'.join(
        map(str, example.shape)) + ' (NCHW)'

    directory = path.resolve().parent
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', suffix='.tmp', dir=directory))
    try:
        package = staging / path.name
        try:
            model.save(str(package))
            _validate(package, example, expected)
        except Exception as error:
            raise CoreMLExportError(
                f'writing or validating the Core ML package of {name} failed: '
                f'{type(error).__name__}: {error}') from error
        _make_readable(package)
        _move_into_place(package, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
