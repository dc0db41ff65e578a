"""Dataset format (`records`) and the `tf.data` input pipeline."""
