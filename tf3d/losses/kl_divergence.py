"""`kl_divergence`: KL(N(mean, exp(log_var)) || N(0, I)), the VAE baseline's code term (Kingma & Welling, 2014)."""

import tensorflow as tf


def kl_divergence(mean, log_var):
    """Mean over the batch of the KL divergence summed over code dimensions.

    Args:
      mean, log_var: `[B, ...]` of the same shape.

    Returns:
      scalar: `mean_b sum_i 0.5 * (exp(log_var) + mean^2 - 1 - log_var)`.
    """
    mean, log_var = tf.convert_to_tensor(mean), tf.convert_to_tensor(log_var)
    if mean.shape != log_var.shape:
        raise ValueError(f"mean and log_var must have one shape, got {mean.shape} and {log_var.shape}")
    per_dim = 0.5 * (tf.exp(log_var) + tf.square(mean) - 1.0 - log_var)
    return tf.reduce_mean(tf.reduce_sum(tf.reshape(per_dim, [tf.shape(mean)[0], -1]), axis=1))
