"""Sample quality judged by a chair/table classifier: Fréchet distance in its features, confident share.

Debugging check 4 scores a generator the way FID scores image GANs (Heusel
et al. 2017), with the check-1 classifier of the domain
(`tf3d.models.part_classifier.PartClassifier`, a CycleGAN critic trained to
tell chairs from tables) in the place of Inception:

* `fd`: the Fréchet distance (`tf3d.metrics.frechet_distance`) between the
  classifier's penultimate features (`PartClassifier.features`: the last conv
  map averaged over space, as FID averages Inception's, or the whole map) of
  the samples and of the real training set;
* `confident`: the share of samples the classifier labels with probability
  >= `confidence` (0.9) of either category: a recognisable chair or table;
* `second`: the share labelled as the second category (all one class is a
  collapse that `confident` alone would miss).

Scores mean something only next to the same scores of the real test set (how
close real data gets) and of a trivial generator (the mean shape), measured
with the same classifier and sample count.
"""

CONFIDENCE = 0.9


def classify(classifier, batches, pooled=True):
    """`(features [N, C], probabilities of the second category [N])` of every batch of samples.

    Args:
      classifier: a `PartClassifier`.
      batches: iterable of `[b, ...]` samples (arrays or tensors) of the classifier's input shape.
      pooled: spatially averaged features (default), or the whole last conv map (`PartClassifier.features`).
    """
    import numpy as np
    import tensorflow as tf

    run = tf.function(lambda x: (classifier.features(x, pooled), tf.sigmoid(classifier(x, training=False))))
    features, probabilities = [], []
    for batch in batches:
        f, p = run(tf.cast(batch, tf.float32))
        features.append(f.numpy())
        probabilities.append(p.numpy())
    if not features:
        raise ValueError("no samples to classify")
    return np.concatenate(features).astype(np.float64), np.concatenate(probabilities).astype(np.float64)


def scores(features, probabilities, reference_features, confidence=CONFIDENCE):
    """`{"fd", "confident", "second", "count"}` of samples against the reference set's features.

    Args:
      features: `[N, C]` and probabilities: `[N]` of the samples (`classify`).
      reference_features: `[M, C]` of the real set (the training split).
      confidence: probability either category must reach to count as confident.
    """
    import numpy as np

    from tf3d.metrics.frechet_distance import frechet_distance_of

    if not 0.5 < confidence <= 1:
        raise ValueError(f"confidence must be in (0.5, 1], got {confidence}")
    probabilities = np.asarray(probabilities)
    return {"fd": frechet_distance_of(features, reference_features),
            "confident": float(np.mean((probabilities >= confidence) | (probabilities <= 1 - confidence))),
            "second": float(np.mean(probabilities >= 0.5)), "count": int(len(probabilities))}
