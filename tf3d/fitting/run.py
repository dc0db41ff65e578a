"""One mesh fit: an icosphere deformed by per-vertex offsets toward a target.

`fit(config)` runs a resolved `FitConfig` and writes, in `config.out_dir`:

    config.yaml     the resolved config
    fitted.obj      the fitted mesh (normalized units of the target)
    target.obj      the normalized target
    strip.png       Blender renderings of the mesh at a few steps, then the target
    fitted.png      the fitted mesh alone (the same view), for sweep grids
    metrics.json    initial (the sphere) and final metrics, the loss history, timing
    logs/           TensorBoard scalars: the loss, each weighted term, chamfer-L2

Modes:
  points        chamfer (and/or quadric) between fresh surface samples of both
                meshes at every step, as PyTorch3D's "deform a source mesh to form
                a target mesh" tutorial.
  silhouettes   L2 and/or soft-IoU between `tf3d.ops.mesh_silhouette` of the
                mesh and Blender's masks of the target from the fitting views
                (Liu et al. 2019, "Soft Rasterizer", sec. 4 fits a sphere the same way).
Both add the regularizers weighted in `losses` (edge length, normal
consistency, Laplacian). Metrics: `tf3d.fitting.metrics`.
"""

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from tf3d import conventions, plots, runs
from tf3d.fitting import config as config_lib
from tf3d.fitting import metrics, target as target_lib
from tf3d.geometry import icosphere, sample_points
from tf3d.losses.chamfer import chamfer_distance
from tf3d.losses.edge_length import edge_length_loss
from tf3d.losses.laplacian import laplacian_smoothing_loss
from tf3d.losses.normal_consistency import normal_consistency_loss
from tf3d.losses.quadric import quadric_loss
from tf3d.losses import silhouette as silhouette_losses

HISTORY_SAMPLES = 2000  # surface samples per mesh for the chamfer-L2 in the history


def _regularizers(weights, faces):
    terms = {"edge": lambda v: edge_length_loss(v, faces),
             "normal": lambda v: normal_consistency_loss(v, faces),
             "laplacian": lambda v: laplacian_smoothing_loss(v, faces)}
    return {k: f for k, f in terms.items() if getattr(weights, k) > 0}


def points_terms(config, target, faces):
    """`{name: fn(vertices [V, 3], seed [2]) -> scalar}`: the points mode's loss terms."""
    target_v = tf.constant(target.vertices, tf.float32)
    target_f = tf.constant(target.faces, tf.int32)
    n = config.samples

    def samples(v, seed):
        return sample_points(v, faces, n, seed=seed), sample_points(target_v, target_f, n, seed=seed + 1)

    terms = {}  # each fn returns a scalar or a dict of named scalars
    if config.losses.chamfer > 0:
        terms["chamfer"] = lambda v, seed: chamfer_distance(*samples(v, seed))[0]
    if config.losses.quadric > 0:
        terms["quadric"] = lambda v, seed: quadric_loss(samples(v, seed)[0], target_v, target_f)
    return terms


def silhouette_terms(config, faces, projection, masks, renderer=None):
    """`{"silhouettes": fn(vertices [V, 3], seed) -> {name: scalar}}`: the silhouette terms.

    One function renders the views once for both terms (L2 and soft IoU).

    Args:
      projection: `[N, 3, 4]` fitting cameras; masks: `[N, S, S]` targets in [0, 1].
      renderer: a function with `tf3d.ops.mesh_silhouette`'s signature (the default).
    """
    if renderer is None:
        from tf3d.ops import mesh_silhouette as renderer
    # the op's loader (g++ probe, file checks) is Python to run as-is, not to trace with AutoGraph
    renderer = tf.autograph.experimental.do_not_convert(renderer)

    projection = tf.constant(projection, tf.float32)
    masks = tf.constant(masks, tf.float32)
    count, size = masks.shape[0], masks.shape[-1]

    def render(v):
        batch = tf.broadcast_to(v[None], [count, *v.shape])  # [N, V, 3]
        return renderer(batch, faces, projection, size, sigma=config.views.sigma)

    def l2(s):
        return tf.reduce_mean(tf.square(s - masks))

    def soft_iou(s):
        return tf.reduce_mean(silhouette_losses.soft_iou(s, masks))

    chosen = {k: f for k, f in (("silhouette_l2", l2), ("silhouette_iou", soft_iou))
              if getattr(config.losses, k) > 0}
    def silhouettes(v, seed):
        rendered = render(v)  # once for both terms
        return {k: f(rendered) for k, f in chosen.items()}

    return {"silhouettes": silhouettes}


def loss_terms(config, faces, target=None, projection=None, masks=None, renderer=None):
    """`(terms, weights)` of a config's mode and regularizers (see `make_step`).

    Points mode needs `target`; silhouettes mode `projection`, `masks` and
    optionally `renderer` (see `silhouette_terms`).
    """
    if config.mode == "points":
        terms = points_terms(config, target, faces)
    else:
        terms = silhouette_terms(config, faces, projection, masks, renderer)
    terms.update({k: (lambda v, seed, f=f: f(v)) for k, f in _regularizers(config.losses, faces).items()})
    weights = {k: w for k, w in dataclasses.asdict(config.losses).items() if w > 0}
    return terms, weights


def make_step(template, offsets, terms, weights, optimizer, seed):
    """A `tf.function` `step(index) -> (loss, {term: value})` doing one optimizer update.

    Args:
      template: `[V, 3]` starting vertices; offsets: `[V, 3]` variable optimized.
      terms: `{name: fn(vertices [V, 3], seed [2]) -> scalar or {name: scalar}}`.
      weights: `{name: float}` for every scalar the terms return.
      seed: int; step `index` samples with the stateless seed `[seed, index]`.
    """
    @tf.function
    def step(index):
        pair = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        with tf.GradientTape() as tape:
            vertices = template + offsets
            values = {}
            for name, fn in terms.items():
                value = fn(vertices, pair)
                values.update(value if isinstance(value, dict) else {name: value})
            loss = tf.add_n([weights[k] * values[k] for k in values])
        optimizer.apply_gradients([(tape.gradient(loss, offsets), offsets)])
        return loss, values

    return step


def _check_within_cameras(vertices, step, config):
    """Raises `runs.Diverged` once a vertex is as far out as the cameras (it would be
    behind some of them: nothing can be rendered or scored any more)."""
    reach = float(tf.reduce_max(tf.norm(vertices, axis=-1)))
    if not reach < conventions.DEFAULT_VIEWPOINTS.distance:
        raise runs.Diverged(
            f"a vertex is {reach:.3g} from the centre at step {step}, as far as the cameras "
            f"({conventions.DEFAULT_VIEWPOINTS.distance:g}): lower optimizer.learning_rate "
            f"({config.optimizer.learning_rate:g})")


def _snapshot_steps(steps, count):
    return sorted(set(int(round(s)) for s in np.linspace(0, steps, count)))


def fit(config, progress=True):
    """Runs one fit (see the module docstring); returns the dict written to metrics.json."""
    from tqdm import tqdm

    config = config_lib.validate(config)
    out = config.out_dir
    target = target_lib.load_target(config.target)
    os.makedirs(out, exist_ok=True)
    config_lib.save(config, out)
    from pipelines import meshes

    meshes.save_obj(os.path.join(out, "target.obj"), target.vertices, target.faces)

    template, faces = icosphere(config.level, config.radius)
    held_out = [target_lib.held_out_views(config.views)]
    held_projection = target_lib.projections(held_out)
    held_masks = target_lib.render_masks(target, held_out, config.views.supersample)
    if config.mode == "points":
        terms, weights = loss_terms(config, faces, target=target)
    else:
        views = target_lib.fit_views(config.views)
        terms, weights = loss_terms(config, faces, projection=target_lib.projections(views),
                                    masks=target_lib.render_masks(target, views, config.views.supersample))

    offsets = tf.Variable(tf.zeros_like(template), name="offsets")
    optimizer = config_lib.build_optimizer(config.optimizer, config.steps)
    target_v = tf.constant(target.vertices, tf.float32)
    target_f = tf.constant(target.faces, tf.int32)

    step = make_step(template, offsets, terms, weights, optimizer, config.seed)

    @tf.function
    def chamfer_now():
        x = sample_points(template + offsets, faces, HISTORY_SAMPLES, seed=[config.seed, -1])
        y = sample_points(target_v, target_f, HISTORY_SAMPLES, seed=[config.seed, -2])
        return chamfer_distance(x, y)[0]

    def score(vertices):
        result = metrics.surface_metrics(vertices, faces.numpy(), target, config.metric_samples, config.seed)
        result["silhouette_iou"] = metrics.silhouette_iou(vertices, faces.numpy(), held_projection,
                                                          held_masks)
        return result

    initial = score(template.numpy())
    snapshot_at = _snapshot_steps(config.steps, config.snapshots)
    snapshots = {0: template.numpy()}
    history = []
    writer = tf.summary.create_file_writer(os.path.join(out, "logs"))
    start = time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc=config.name, disable=not progress, leave=False)
    with writer.as_default():
        for i in bar:
            loss, values = step(tf.constant(i, tf.int64))
            if not np.isfinite(float(loss)):
                raise runs.Diverged(f"the loss became {float(loss)} at step {i}: lower "
                                    f"optimizer.learning_rate ({config.optimizer.learning_rate:g})")
            if i % config.log_every == 0 or i == config.steps:
                _check_within_cameras(template + offsets, i, config)
                entry = {"step": i, "loss": float(loss), "chamfer_l2": float(chamfer_now())}
                entry.update({k: float(v) for k, v in values.items()})
                history.append(entry)
                for key, value in entry.items():
                    if key != "step":
                        tf.summary.scalar(key, value, step=i)
                bar.set_postfix(loss=f"{float(loss):.4g}")
            if i in snapshot_at:
                snapshots[i] = (template + offsets).numpy()
    seconds = time.perf_counter() - start
    writer.close()

    fitted = (template + offsets).numpy()
    meshes.save_obj(os.path.join(out, "fitted.obj"), fitted, faces.numpy())
    pictures = target_lib.render_pictures(
        [(snapshots[s], faces.numpy()) for s in snapshot_at] + [(target.vertices, target.faces)], out)
    captions = [f"step {s}" for s in snapshot_at] + ["target"]
    plots.save_png(os.path.join(out, "strip.png"), plots.grid([list(pictures)], column_labels=captions))
    plots.save_png(os.path.join(out, "fitted.png"), pictures[-2])
    plots.save_png(os.path.join(out, "target.png"), pictures[-1])
    result = {"name": config.name, "target": config.target, "mode": config.mode,
              "steps": config.steps, "seconds": seconds, "steps_per_second": config.steps / seconds,
              "initial": initial, "final": score(fitted), "history": history,
              "config": dataclasses.asdict(config)}
    runs.write_json(os.path.join(out, "metrics.json"), result)
    return result


def fit_experiment(experiment, overrides=(), progress=False):
    """`fit` of the experiment file `experiment` with `--set` strings `overrides` (sweep entry)."""
    return fit(config_lib.resolve(experiment, overrides), progress=progress)


def format_metrics(result):
    """Lines `metric  sphere -> fitted` for the terminal."""
    lines = [f"{'metric':<20}{'sphere':>10}{'fitted':>10}"]
    for key, value in result["final"].items():
        lines.append(f"{key:<20}{result['initial'][key]:>10.4f}{value:>10.4f}")
    lines.append(f"{result['steps']} steps in {result['seconds']:.1f} s "
                 f"({result['steps_per_second']:.1f} steps/s)")
    return "\n".join(lines)
