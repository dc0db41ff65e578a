"""Argument checks shared by the voxel losses."""


def voxel_targets_and_logits(targets, logits):
    """`(targets, logits)` as tensors of the logits' dtype, both checked to be `[B, X, Y, Z]`.

    Raises:
      ValueError naming both shapes when either is not rank 4.
    """
    import tensorflow as tf

    logits = tf.convert_to_tensor(logits)
    targets = tf.cast(targets, logits.dtype)
    if targets.shape.rank != 4 or logits.shape.rank != 4:
        raise ValueError(f"targets and logits must have shape [B, X, Y, Z], got "
                         f"{targets.shape} and {logits.shape}")
    return targets, logits
