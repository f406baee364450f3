"""Reading images into the pipeline's raw tf.Example schema (what ImageExampleGen runs)."""
