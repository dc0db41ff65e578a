"""Argument checks shared by the op wrappers and the pure-TF references.

Both implementations of an op run its one `check_arguments` (in the
reference's module), so they accept and reject the same inputs: static
problems raise `ValueError` at once; values only known at run time
(probabilities, indices, finite cameras, the pixel count with a dynamic
batch) raise `tf.errors.InvalidArgumentError` through `with_checks`. The
kernels repeat the value checks for callers of the raw ops.
"""

import math

import tensorflow as tf

# The most pixels (B * h * w) one call renders; the kernels' kMaxPixels
# (csrc/common/limits.h) is the same number.
MAX_PIXELS = 2 ** 31 - 1


def finite_scalar(value, name):
    """`float(value)`, checked finite."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def with_checks(tensor, checks):
    """`tensor` once no check fails, else `tf.errors.InvalidArgumentError`.

    Args:
      tensor: the value to return.
      checks: `(bad, message)` pairs: `bad` a boolean tensor, True where an
        element breaks the rule that `message` states; the error names the
        first such index where `message` has `{index}`.

    Eagerly the first failing check raises at once; in a graph the result
    depends on all of them. The message is only formatted on failure.
    """
    outcomes = [_check(bad, message) for bad, message in checks]
    outcomes = [o for o in outcomes if o is not None]  # eagerly, passing checks leave nothing
    if not outcomes:
        return tensor
    with tf.control_dependencies(outcomes):
        return tf.identity(tensor)


def _check(bad, message):
    ok = tf.logical_not(tf.reduce_any(bad))

    def fail():
        text = message
        if "{index}" in message:
            first = tf.reshape(tf.where(bad)[:1], [-1])  # [rank of bad]
            text = tf.strings.format(message.replace("{index}", "{}"), [first])
        with tf.control_dependencies([tf.debugging.Assert(ok, [text])]):  # eagerly: raises
            return tf.identity(ok)

    if tf.executing_eagerly():
        return None if bool(ok) else fail()
    return tf.cond(ok, lambda: tf.identity(ok), fail)


def pixel_count_check(batch, height, width):
    """`(bad, message)`: B * h * w above MAX_PIXELS (B known at run time)."""
    pixels = tf.cast(batch, tf.int64) * height * width
    return pixels > MAX_PIXELS, (f"B * h * w must be at most {MAX_PIXELS} pixels per call "
                                 f"(h, w = {height}, {width})")
