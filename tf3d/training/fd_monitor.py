"""`FrechetMonitor`: the validation Fréchet distance of a generator's samples, each epoch (check 4)."""

import keras


class FrechetMonitor(keras.callbacks.Callback):
    """Adds `val_fd` and `val_confident` (`tf3d.metrics.sample_quality`) to every epoch's logs.

    Runs before the checkpoint callbacks (a task callback), so `val_fd` can pick the best
    checkpoint: the critic's Wasserstein estimate cannot, since the critic moves with the generator.

    Args:
      classifier: the check-1 `PartClassifier` of the generator's domain.
      real: iterable of batches of real validation samples (read once, at the start of training).
      count: samples drawn from `model.sample` at each epoch's end (fixed noise: `seed`).
      seed: noise seed.
      pooled: the classifier's pooled or flat features (`PartClassifier.features`).
    """

    def __init__(self, classifier, real, count=256, seed=1, pooled=True):
        super().__init__()
        self.classifier, self.real, self.count, self.seed = classifier, real, int(count), int(seed)
        self.pooled = bool(pooled)
        self._reference = None

    def on_train_begin(self, logs=None):
        from tf3d.metrics.sample_quality import classify

        self._reference = classify(self.classifier, self.real, self.pooled)[0]

    def on_epoch_end(self, epoch, logs=None):
        from tf3d.metrics import sample_quality

        features, probabilities = sample_quality.classify(self.classifier,
                                                          self.model.sample_batches(self.count, self.seed),
                                                          self.pooled)
        result = sample_quality.scores(features, probabilities, self._reference)
        if logs is not None:
            logs["val_fd"], logs["val_confident"] = result["fd"], result["confident"]
