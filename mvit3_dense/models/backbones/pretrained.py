"""Loading a ``Pretrained`` backbone checkpoint with errors that say what is wrong."""
from ...utils.checkpoint import (CONVERTER, CheckpointError, extract_state_dict,
                                 load_checkpoint_file)


def load_pretrained_backbone(backbone, checkpoint, prefix=None, arch_name=None):
    """Load ``checkpoint`` into ``backbone``, refusing anything but its own variant's weights.

    ``prefix`` selects the backbone's tensors in a whole-model checkpoint (e.g. ``'backbone.'``).
    A converted v1-based checkpoint may carry the 1x1 expansion that dense models drop; any other
    difference is an error naming the variant found and the one expected.
    """
    raw = load_checkpoint_file(checkpoint)
    state_dict = extract_state_dict(raw, source=str(checkpoint))
    if prefix:
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not state_dict:
            raise CheckpointError(f"{checkpoint} has no tensors under the prefix '{prefix}'")
    if any(k.startswith(('conv_1.block.', 'encoder.conv_1.')) for k in state_dict):
        raise CheckpointError(
            f"{checkpoint} is in the authors' (CVNets) format: convert it first with "
            f'python {CONVERTER} {checkpoint} OUT.pth, then point init_cfg at OUT.pth')
    expected = backbone.state_dict()
    if not any(k in expected for k in state_dict):
        raise CheckpointError(
            f'{checkpoint} is not a MobileViTv3 backbone checkpoint (e.g. key '
            f"'{next(iter(state_dict))}'); for a whole-model checkpoint set init_cfg's prefix "
            "(e.g. prefix='backbone.')")
    meta = raw.get('meta', {}) if isinstance(raw, dict) else {}
    found = f"MobileViTv3-{meta['arch']}" if isinstance(meta, dict) and 'arch' in meta else \
        'another MobileViTv3 variant'
    missing = [k for k in expected if k not in state_dict]
    wrong = [k for k in expected if k in state_dict and state_dict[k].shape != expected[k].shape]
    extra = [k for k in state_dict if k not in expected and not k.startswith('conv_1x1_exp.')]
    if missing or wrong or extra:
        detail = (f'{len(wrong)} shape mismatches (e.g. {wrong[0]})' if wrong else
                  f'{len(missing)} tensors missing (e.g. {missing[0]})' if missing else
                  f'{len(extra)} unexpected tensors (e.g. {extra[0]})')
        raise CheckpointError(
            f'{checkpoint} holds {found} weights, which do not fit this MobileViTv3-'
            f'{arch_name or "?"} backbone: {detail}. Use a checkpoint converted from the same '
            f'variant ({CONVERTER} checks this), or change the arch.')
    backbone.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
