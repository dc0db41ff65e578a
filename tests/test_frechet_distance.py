"""Tests of `tf3d.metrics.frechet_distance` against hand-computed cases."""

import math

import numpy as np
import pytest

from tf3d.metrics.frechet_distance import frechet_distance, frechet_distance_of, gaussian_statistics


def test_two_gaussians_with_known_distance():
    # 1-D: d^2 = (mu1 - mu2)^2 + (s1 - s2)^2 = 3^2 + (2 - 5)^2 = 18.
    assert frechet_distance([1.0], [[4.0]], [4.0], [[25.0]]) == pytest.approx(18.0)
    # 2-D, N(0, I) and N((1, 2), [[2, 1], [1, 2]]): ||mu||^2 = 5, Tr S1 = 2, Tr S2 = 4, and
    # (S1 S2)^(1/2) = S2^(1/2) has eigenvalues sqrt(3) and 1, so d^2 = 5 + 2 + 4 - 2 (sqrt(3) + 1) = 9 - 2 sqrt(3).
    assert frechet_distance([0, 0], np.eye(2), [1, 2], [[2, 1], [1, 2]]) == pytest.approx(9 - 2 * math.sqrt(3))
    # Symmetric, zero for one Gaussian twice.
    assert frechet_distance([1, 2], [[2, 1], [1, 2]], [0, 0], np.eye(2)) == pytest.approx(9 - 2 * math.sqrt(3))
    assert frechet_distance([1, 2], [[2, 1], [1, 2]], [1, 2], [[2, 1], [1, 2]]) == pytest.approx(0, abs=1e-9)


def test_sample_statistics_approach_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 2))  # N(0, I)
    b = rng.multivariate_normal([1, 2], [[2, 1], [1, 2]], size=20000)
    assert frechet_distance_of(a, b) == pytest.approx(9 - 2 * math.sqrt(3), abs=0.1)
    mean, cov = gaussian_statistics(b)
    np.testing.assert_allclose(cov, [[2, 1], [1, 2]], atol=0.1)


def test_singular_covariances_give_a_finite_distance():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.normal(size=(50, 3)), np.zeros((50, 1))], axis=1)  # a constant feature
    b = np.concatenate([rng.normal(size=(50, 3)), np.ones((50, 1))], axis=1)
    value = frechet_distance_of(a, b)
    assert np.isfinite(value) and value == pytest.approx(1.0, abs=0.5)  # the means differ by 1 in the 4th feature


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"cov2 must have shape \[2, 2\]"):
        frechet_distance([0, 0], np.eye(2), [0, 0], np.eye(3))
    with pytest.raises(ValueError, match=r"\[N, D\] with N >= 2"):
        gaussian_statistics(np.zeros((1, 4)))
