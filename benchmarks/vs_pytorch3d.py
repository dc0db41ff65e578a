"""tf3d against PyTorch3D on CPU: soft silhouettes (forward + backward) and chamfer distance.

    make bench-peers                                   # creates .venv-peers, then runs this
    .venv-peers/bin/python benchmarks/vs_pytorch3d.py [--size 64] [--views 4] [--repeats 5]

Needs PyTorch and PyTorch3D next to TensorFlow: `make bench-peers` installs
`torch==2.11.*`, `easypytorch3d==0.7.9.post1` (PyTorch3D 0.7.9 with its
compiled extension) and tf3d into `.venv-peers`, apart from the main `.venv`.
Both libraries run in this one process on the same arrays.

Same scene on both sides: a level-4 icosphere (2562 vertices, 5120 faces) and
the synthetic chair `synthetic:chair:0` (`tf3d.fitting.target`), seen from
`--views` cameras of tf3d's convention (`tf3d/conventions.py`: OpenCV axes,
`P = K [R | t]`, pixel (row, col) centred at (col + 0.5, row + 0.5)).
PyTorch3D's cameras come from `pytorch3d.utils.cameras_from_opencv_projection`
with the same R, t, K: it flips x and y into PyTorch3D's view axes and maps
pixel coordinate u to NDC `-(u - w / 2) / (min(h, w) / 2)`, which puts
PyTorch3D's pixel centres (NDC `1 - (2 col + 1) / w`) exactly on tf3d's. The
script checks it: the binarized silhouettes (> 0.5) must agree with IoU >=
0.99 (printed), and the soft values are compared too.

Sigma. tf3d measures distances in units where the longer image side spans 2;
PyTorch3D's NDC has the shorter side span 2, and its shader uses the squared
NDC distance, `D = sigmoid(-dist / sigma)`. So `sigma_pytorch3d =
sigma_tf3d * (max(h, w) / min(h, w))**2`, equal for the square images here.
tf3d skips faces with `D < 1e-5`; PyTorch3D's `blur_radius`, a squared NDC
distance, is set to the same cutoff, `log(1 / 1e-5 - 1) * sigma_pytorch3d`
(PyTorch3D's docs use 1e-4). PyTorch3D keeps only the `faces_per_pixel`
nearest faces within it; `faces_per_pixel` is set to the largest count of
faces within the cutoff of any pixel (counted with PyTorch3D's own
rasterizer), so both sides sum the same faces and compute the same function.

Timing: the gradient of a pixel-weighted sum of the silhouettes with respect
to the vertices; tf3d in one `tf.function`, PyTorch3D eager (its usual mode:
`Meshes`, `MeshRasterizer`, `SoftSilhouetteShader`, `backward()`);
`torch.set_num_threads` equal to TensorFlow's intra-op threads; both warmed
up twice, then called in turn, medians of `--repeats`. PyTorch3D rasterizes
on the CPU without binning (its coarse-to-fine pass is CUDA-only; every
pixel tests every face, keeping the `faces_per_pixel` nearest), so its CPU
time grows with pixels x faces: this compares what each library does on a
CPU, not PyTorch3D's GPU path. Chamfer: 10,000 x
10,000 points, value and both gradients, `tf3d.losses.chamfer_distance`
(under `tf.function`) against `pytorch3d.loss.chamfer_distance`, values
printed side by side.

Ends with `ratio vs pytorch3d = X`: PyTorch3D's time over tf3d's for the
silhouette of the icosphere (> 1: tf3d is faster), plus one line per case.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# CPU on both sides by design: keep PyTorch from probing for CUDA (the default
# PyPI wheel is a CUDA build) and warning on every backward pass.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

try:
    import torch
    from pytorch3d.loss import chamfer_distance as p3d_chamfer
    from pytorch3d.renderer import (BlendParams, MeshRasterizer, RasterizationSettings,
                                    SoftSilhouetteShader)
    from pytorch3d.structures import Meshes
    from pytorch3d.utils import cameras_from_opencv_projection
except ImportError as error:  # an actionable message, not a traceback
    sys.exit(f"benchmarks/vs_pytorch3d.py needs PyTorch and PyTorch3D ({error}): "
             "run `make bench-peers`, which installs them into .venv-peers")

from benchmarks.render_ops import interleaved  # noqa: E402
from tf3d import conventions  # noqa: E402
from tf3d.fitting import target as target_lib  # noqa: E402
from tf3d.losses.chamfer import chamfer_distance  # noqa: E402
from tf3d.ops import build, primitives  # noqa: E402
from tf3d.ops.mesh_silhouette import mesh_silhouette  # noqa: E402
from tf3d.ops.mesh_silhouette_reference import CUTOFF  # noqa: E402

TF_THREADS = os.cpu_count()  # TensorFlow's default intra-op pool: one thread per core


def _weights(size):
    return np.linspace(0.5, 1.5, size, dtype=np.float32)


class Tf3dSilhouette:
    """tf3d's soft silhouettes and their vertex gradient, one `tf.function`."""

    def __init__(self, vertices, faces, projection, size, sigma):
        self.vertices = tf.constant(np.repeat(vertices[None], len(projection), 0), tf.float32)
        weights = tf.constant(_weights(size))

        @tf.function
        def step(v):
            with tf.GradientTape() as tape:
                tape.watch(v)
                silhouette = mesh_silhouette(v, faces, projection, size, sigma=sigma)
                loss = tf.reduce_sum(silhouette * weights)
            return silhouette, tape.gradient(loss, v)

        self.step = step

    def __call__(self):
        silhouette, grad = self.step(self.vertices)
        return silhouette.numpy(), grad.numpy()


class PyTorch3DSilhouette:
    """PyTorch3D's soft silhouettes (SoftRas blending) and their vertex gradient, eager."""

    def __init__(self, vertices, faces, rotation, translation, intrinsic, size, sigma,
                 faces_per_pixel):
        batch = len(rotation)
        self.cameras = cameras_from_opencv_projection(
            torch.tensor(rotation, dtype=torch.float32), torch.tensor(translation, dtype=torch.float32),
            torch.tensor(np.repeat(intrinsic[None], batch, 0), dtype=torch.float32),
            torch.tensor([[size, size]] * batch))
        settings = RasterizationSettings(image_size=size, blur_radius=CUTOFF * sigma,
                                         faces_per_pixel=faces_per_pixel)
        self.rasterizer = MeshRasterizer(cameras=self.cameras, raster_settings=settings)
        self.shader = SoftSilhouetteShader(blend_params=BlendParams(sigma=sigma))
        self.vertices = torch.tensor(np.repeat(vertices[None], batch, 0), dtype=torch.float32)
        self.faces = torch.tensor(np.repeat(faces[None], batch, 0), dtype=torch.int64)
        self.weights = torch.tensor(_weights(size))

    def render(self, vertices):
        meshes = Meshes(verts=vertices, faces=self.faces)
        fragments = self.rasterizer(meshes)
        return self.shader(fragments, meshes)[..., 3], fragments  # alpha = the silhouette

    def __call__(self):
        vertices = self.vertices.clone().requires_grad_(True)
        silhouette, _ = self.render(vertices)
        (silhouette * self.weights).sum().backward()
        return silhouette.detach().numpy(), vertices.grad.numpy()


def _faces_within_cutoff(vertices, faces, rotation, translation, intrinsic, size, sigma):
    """The most faces within the cutoff of any pixel, by PyTorch3D's rasterizer.

    Rasterizes with a `faces_per_pixel` that doubles until some pixel's last
    slot stays empty, so the count is exact.
    """
    k = 16
    while True:
        renderer = PyTorch3DSilhouette(vertices, faces, rotation, translation, intrinsic, size,
                                       sigma, k)
        with torch.no_grad():
            _, fragments = renderer.render(renderer.vertices)
        filled = (fragments.pix_to_face >= 0).sum(-1)
        if int(filled.max()) < k:
            return int(filled.max())
        k *= 2


def _iou(a, b):
    a, b = a > 0.5, b > 0.5
    return np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1)


def silhouette_case(name, vertices, faces, views, sigma, repeats):
    """Prints agreement and times for one mesh; returns PyTorch3D time / tf3d time."""
    extrinsics = views.extrinsics()
    rotation, translation = extrinsics[:, :, :3], extrinsics[:, :, 3]
    intrinsic = views.intrinsics()
    size = views.image_size
    projection = views.projections().astype(np.float32)
    k = _faces_within_cutoff(vertices, faces, rotation, translation, intrinsic, size, sigma)
    ours = Tf3dSilhouette(vertices, faces, projection, size, sigma)
    theirs = PyTorch3DSilhouette(vertices, faces, rotation, translation, intrinsic, size, sigma, k)
    for _ in range(2):  # warm up both: tracing, allocator pools, page faults
        (ours_value, ours_grad), (their_value, their_grad) = ours(), theirs()
    ours_time, their_time = interleaved([ours, theirs], repeats)
    scale = np.abs(their_grad).max()
    print(f"{name}: {len(vertices)} vertices, {len(faces)} faces, {len(projection)} views, {size}^2, "
          f"sigma {sigma:g}, faces_per_pixel {k}")
    print(f"  silhouette IoU (> 0.5) {_iou(ours_value, their_value):.4f}, "
          f"max |difference| {np.abs(ours_value - their_value).max():.2e}, "
          f"vertex gradient max |difference| / max |gradient| "
          f"{np.abs(ours_grad - their_grad).max() / scale:.2e}")
    print(f"  forward + backward: tf3d {ours_time * 1e3:.1f} ms, PyTorch3D {their_time * 1e3:.1f} ms, "
          f"ratio {their_time / ours_time:.1f}", flush=True)
    return their_time / ours_time


def chamfer_case(num_points, repeats):
    """Prints value agreement and times; returns PyTorch3D time / tf3d time."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, num_points, 3)).astype(np.float32)
    y = rng.uniform(size=(1, num_points, 3)).astype(np.float32)

    @tf.function
    def ours_step(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            value = chamfer_distance(a, b)[0]
        return value, tape.gradient(value, [a, b])

    tx, ty = tf.constant(x), tf.constant(y)

    def ours():
        value, grads = ours_step(tx, ty)
        return float(value), [g.numpy() for g in grads]

    def theirs():
        a, b = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        value = p3d_chamfer(a, b)[0]
        value.backward()
        return value.item(), [a.grad.numpy(), b.grad.numpy()]

    for _ in range(2):
        (ours_value, ours_grads), (their_value, their_grads) = ours(), theirs()
    ours_time, their_time = interleaved([ours, theirs], repeats)
    # A point's gradient follows its nearest neighbour; where two neighbours
    # are equally near to float32 rounding, the libraries may pick different
    # ones, so count the points that disagree rather than take a maximum.
    differ = sum(int((np.abs(g - h).max(-1) > 1e-4 * np.abs(h).max()).sum())
                 for g, h in zip(ours_grads, their_grads))
    print(f"chamfer, {num_points} x {num_points} points: tf3d {ours_value:.7g}, PyTorch3D "
          f"{their_value:.7g} (relative difference {abs(ours_value - their_value) / their_value:.1e}; "
          f"gradients differ at {differ} of {2 * num_points} points: nearest-neighbour near-ties)")
    print(f"  value + gradient: tf3d {ours_time * 1e3:.1f} ms, PyTorch3D {their_time * 1e3:.1f} ms, "
          f"ratio {their_time / ours_time:.1f}", flush=True)
    return their_time / ours_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Small defaults: PyTorch3D's unbinned CPU rasterizer takes seconds per call even here.
    parser.add_argument("--size", type=int, default=64, help="image side")
    parser.add_argument("--views", type=int, default=4, help="cameras (batch)")
    parser.add_argument("--sigma", type=float, default=1e-4, help="SoftRas sigma (tf3d units)")
    parser.add_argument("--points", type=int, default=10_000, help="chamfer points per set")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per side (median)")
    args = parser.parse_args(argv)
    torch.set_num_threads(TF_THREADS)
    tf.config.threading.set_intra_op_parallelism_threads(TF_THREADS)
    print(f"library: {build.build_library()}")
    print(f"TensorFlow {tf.__version__}, PyTorch {torch.__version__}, "
          f"PyTorch3D {__import__('pytorch3d').__version__}, {TF_THREADS} threads each, CPU, "
          f"median of {args.repeats}")
    views = conventions.ViewpointSet(
        azimuths=tuple(360.0 * i / args.views for i in range(args.views)), image_size=args.size)
    sphere, sphere_faces = primitives.icosphere(4, radius=0.4)
    chair = target_lib.load_target("synthetic:chair:0")
    ratios = {
        "icosphere": silhouette_case("icosphere (level 4)", sphere.astype(np.float32),
                                     sphere_faces.astype(np.int32), views, args.sigma, args.repeats),
        "chair": silhouette_case("synthetic chair 0", chair.vertices.astype(np.float32),
                                 chair.faces.astype(np.int32), views, args.sigma, args.repeats),
        "chamfer": chamfer_case(args.points, args.repeats),
    }
    print(f"ratio vs pytorch3d chair = {ratios['chair']:.1f}")
    print(f"ratio vs pytorch3d chamfer = {ratios['chamfer']:.1f}")
    print(f"ratio vs pytorch3d = {ratios['icosphere']:.1f}")
    return ratios


if __name__ == "__main__":
    main()
