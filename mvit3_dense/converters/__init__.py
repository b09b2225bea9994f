from .cvnets import Conversion, ConversionError, convert_checkpoint_file, convert_classifier

__all__ = ["Conversion", "ConversionError", "convert_checkpoint_file", "convert_classifier"]
