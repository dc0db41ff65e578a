"""`StopOnNonFiniteLoss`: stop at the first NaN/inf loss, before anything is saved.

Keras' `TerminateOnNaN` only sets `stop_training`, after which the epoch still
ends and `on_epoch_end` callbacks (checkpoints, BackupAndRestore) would save
the broken weights. Raising from `on_train_batch_end` leaves fit() before
that, so the last good checkpoint and backup stay intact.
"""

import math

import keras

from tf3d.cli import UserError


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` naming the step when the loss is not finite.

    Args:
      checkpoint_hint: text appended to the message (where the good weights are).
    """

    def __init__(self, checkpoint_hint=""):
        super().__init__()
        self.checkpoint_hint = checkpoint_hint

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            step = int(self.model.optimizer.iterations.numpy())
            raise NonFiniteLossError(
                f"training loss became {loss} at step {step} (batch {batch} of the epoch); "
                f"stopped before saving anything. {self.checkpoint_hint}".strip())
