"""Checkpoint converters into this project's models.

Public API: :func:`convert` (a checkpoint file or state dict -> :class:`Conversion`) and
:func:`convert_checkpoint_file` (the same, written to a file). ``SOURCES`` lists the checkpoint
formats; :data:`KINDS` the targets.
"""
from .api import SOURCES, convert, convert_checkpoint_file, find_config
from .base import KINDS, NETWORKS, Conversion, ConversionError, Source, SourceTensors
from .conventions import input_convention

__all__ = ['KINDS', 'NETWORKS', 'SOURCES', 'Conversion', 'ConversionError', 'Source',
           'SourceTensors', 'convert', 'convert_checkpoint_file', 'find_config', 'input_convention']
