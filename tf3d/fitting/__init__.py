"""Fitting one mesh to a target: `python -m tf3d.fit EXPERIMENT.yaml [--set key=value]`.

  config    `FitConfig` (typed, strict, validated) and `resolve`
  target    the target mesh, the fitting and held-out views, Blender masks
  metrics   chamfer-L2, F-score@1%/2%, normal consistency, held-out silhouette IoU
  run       `fit(config)`: the optimisation and everything it writes

Importing this package loads nothing heavy; `tf3d.fitting.run` imports TensorFlow.
"""
