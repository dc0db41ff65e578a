"""WGAN-GP: the Wasserstein critic and generator losses and the gradient penalty.

Gulrajani et al., "Improved Training of Wasserstein GANs" (2017), Algorithm 1:

    L_critic = E[D(x_fake)] - E[D(x_real)] + lambda * E[(||grad_x D(x_hat)||_2 - 1)^2]
    x_hat = eps * x_real + (1 - eps) * x_fake,   eps ~ U[0, 1] per example,   lambda = 10
    L_generator = -E[D(x_fake)]

The norm is over all of an example's elements (every pixel or voxel).
"""

GP_WEIGHT = 10.0  # lambda of the paper


def critic_loss(real_scores, fake_scores):
    """`mean(D(fake)) - mean(D(real))`: the negated Wasserstein estimate, `[B]` scores in, scalar out."""
    import tensorflow as tf

    return tf.reduce_mean(fake_scores) - tf.reduce_mean(real_scores)


def generator_loss(fake_scores):
    """`-mean(D(fake))` for `[B]` scores."""
    import tensorflow as tf

    return -tf.reduce_mean(fake_scores)


def gradient_penalty(critic, real, fake, weight=GP_WEIGHT, epsilon=None, training=True):
    """`weight * mean_b (||grad D(x_hat_b)|| - 1)^2` on uniform interpolates of `real` and `fake`.

    Args:
      critic: callable `[B, ...] -> [B]` (called with `training`).
      real, fake: float `[B, ...]` of one shape (images or voxel grids).
      weight: lambda.
      epsilon: optional `[B]` interpolation weights of `real` (default: U[0, 1]).
      training: passed to the critic.

    Returns:
      scalar penalty (differentiable with respect to the critic's weights).
    """
    import tensorflow as tf

    real = tf.convert_to_tensor(real, tf.float32)
    fake = tf.convert_to_tensor(fake, tf.float32)
    if real.shape.rank is not None and fake.shape.rank is not None and \
            not real.shape.is_compatible_with(fake.shape):
        raise ValueError(f"real and fake must have one shape, got {real.shape} and {fake.shape}")
    batch = tf.shape(real)[0]
    if epsilon is None:
        epsilon = tf.random.uniform([batch], 0.0, 1.0)
    epsilon = tf.reshape(tf.cast(epsilon, tf.float32), [-1] + [1] * (real.shape.rank - 1))  # [B, 1, ...]
    mixed = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic(mixed, training=training)
    grads = tape.gradient(scores, mixed)
    axes = list(range(1, real.shape.rank))
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)  # [B]
    return weight * tf.reduce_mean(tf.square(norms - 1.0))
