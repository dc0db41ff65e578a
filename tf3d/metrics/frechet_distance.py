"""Fréchet distance between two sets of features, each summarised as a Gaussian.

Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium" (2017), Eq. 6 (FID, there on Inception features):

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

the squared 2-Wasserstein distance between N(mu_1, S_1) and N(mu_2, S_2).
The matrix square root is `scipy.linalg.sqrtm`; as in the reference FID
code, a product that is numerically singular (its root is not finite, or
does not square back to it) gets a small ridge on both covariances, and the
round-off imaginary part of the root is dropped.
"""

import warnings

_RIDGE = 1e-6  # relative to the mean variance
_TOLERANCE = 1e-6  # relative Frobenius error of root @ root accepted without the ridge


def _accurate(root, product):
    import numpy as np

    if not np.isfinite(root).all():
        return False
    scale = max(np.linalg.norm(product), 1e-300)
    return np.linalg.norm(root @ root - product) / scale <= _TOLERANCE


def gaussian_statistics(features):
    """`(mean [D], covariance [D, D])` of `features` `[N, D]` (N >= 2), in float64."""
    import numpy as np

    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape [N, D] with N >= 2, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def frechet_distance(mean1, cov1, mean2, cov2):
    """The Fréchet distance (squared, as FID reports it) between N(mean1, cov1) and N(mean2, cov2).

    Args:
      mean1, mean2: `[D]`.
      cov1, cov2: `[D, D]` symmetric positive semi-definite.

    Returns:
      float >= 0 (up to round-off).
    """
    import numpy as np
    from scipy import linalg

    mean1, mean2 = np.atleast_1d(np.asarray(mean1, np.float64)), np.atleast_1d(np.asarray(mean2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    d = mean1.shape[0]
    for name, value, shape in (("mean2", mean2, (d,)), ("cov1", cov1, (d, d)), ("cov2", cov2, (d, d))):
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {list(shape)} (mean1 has {d} entries), got {list(value.shape)}")
    product = cov1 @ cov2
    with warnings.catch_warnings():  # a singular product is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(product)
    if not _accurate(root, product):  # singular product: regularize as the reference FID code does
        ridge = _RIDGE * max(1.0, float(np.trace(cov1) + np.trace(cov2)) / d) * np.eye(d)
        root = linalg.sqrtm((cov1 + ridge) @ (cov2 + ridge))
    root = np.real(root)
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(root))


def frechet_distance_of(features1, features2):
    """The Fréchet distance between the Gaussians fitted to `features1` `[N1, D]` and `features2` `[N2, D]`."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))
