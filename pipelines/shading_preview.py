"""`python -m pipelines.shading_preview -o docs/shading_vs_blender.png`: tf3d's shader next to Blender's.

Renders the synthetic chair `synthetic:chair:0` (normalized, flat faces)
with a per-vertex albedo that grows with height, under one sun and a
uniform ambient light, twice: with `tf3d.ops.lambertian_shading` and with
Cycles set up as the same Lambertian model (`blender/render_lambertian.py`:
Diffuse BSDF, no shadows, no occlusion, no interreflection). Prints the
agreement: mean absolute difference of the linear intensities over the
pixels that both cover (alpha >= 0.5 in both, and over the interior, alpha
1 in tf3d's and >= 0.99 in Blender's), and the IoU of the two masks. The
figure shows, over a white background, tf3d | Blender | |difference| x 5.
Takes about 15 s on 2 cores (Cycles, 64 samples at 256 px).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from tf3d import cli, conventions

LIGHT_DIRECTION = (0.5, 0.8, 0.6)  # towards the sun: above, front right (world, tf3d's frame)
AMBIENT = 0.25
DIFFUSE = 0.75
AZIMUTH, ELEVATION = 35.0, 25.0


def _albedo(vertices):
    """`[V]` albedo from 0.3 at the bottom of the mesh to 0.9 at its top."""
    height = vertices[:, conventions.UP_AXIS]
    return 0.3 + 0.6 * (height - height.min()) / max(np.ptp(height), 1e-9)


def _tf3d_render(vertices, faces, albedo, viewpoints):
    from tf3d.ops import lambertian_shading

    out = lambertian_shading(vertices[None].astype(np.float32), faces,
                             viewpoints.projections().astype(np.float32), viewpoints.image_size,
                             albedo.astype(np.float32), np.asarray(LIGHT_DIRECTION, np.float32),
                             ambient=AMBIENT, diffuse=DIFFUSE, smooth=False)
    return out.image.numpy()[0], out.alpha.numpy()[0]


def _blender_render(vertices, faces, albedo, viewpoints, samples):
    from pipelines import render

    _, executable = render.resolve_backend("bpy")
    script = os.path.join(os.path.dirname(render.SCRIPT), "render_lambertian.py")
    with tempfile.TemporaryDirectory(prefix="tf3d_shading_") as tmp:
        np.savez(os.path.join(tmp, "mesh.npz"), vertices=vertices, faces=faces, albedo=albedo)
        job = {"mesh": os.path.join(tmp, "mesh.npz"), "viewpoints": viewpoints.to_dict(),
               "light_direction": list(LIGHT_DIRECTION), "ambient": AMBIENT, "diffuse": DIFFUSE,
               "samples": samples, "out": os.path.join(tmp, "render.npy")}
        with open(os.path.join(tmp, "job.json"), "w") as f:
            json.dump(job, f)
        proc = subprocess.run([executable, script, "--job", os.path.join(tmp, "job.json")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"Blender failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        premultiplied, alpha = np.moveaxis(np.load(job["out"]), -1, 0)
    return premultiplied, alpha


def compare(image_size=256, samples=64):
    """(figure uint8 `[S, 3 S]`, metrics dict) for the chair; see the module docstring."""
    from tf3d.fitting.target import load_target

    target = load_target("synthetic:chair:0")
    vertices, faces = target.vertices, target.faces
    albedo = _albedo(vertices)
    viewpoints = conventions.ViewpointSet(azimuths=(AZIMUTH,), elevation=ELEVATION,
                                          image_size=image_size)
    ours, our_alpha = _tf3d_render(vertices, faces, albedo, viewpoints)  # over black: premultiplied
    theirs, their_alpha = _blender_render(vertices, faces, albedo, viewpoints, samples)
    both = (our_alpha >= 0.5) & (their_alpha >= 0.5)
    interior = (our_alpha == 1.0) & (their_alpha >= 0.99)
    ours_mask, theirs_mask = our_alpha >= 0.5, their_alpha >= 0.5
    # Straight (not premultiplied) intensities where both cover a pixel.
    straight = lambda p, a: p / np.maximum(a, 1e-6)  # noqa: E731
    difference = np.abs(straight(ours, our_alpha) - straight(theirs, their_alpha))
    metrics = {"faces": int(len(faces)), "image_size": image_size, "cycles_samples": samples,
               "mad_both_cover": float(difference[both].mean()),
               "mad_interior": float(difference[interior].mean()),
               "mean_intensity_interior": float(straight(theirs, their_alpha)[interior].mean()),
               "mask_iou": float((ours_mask & theirs_mask).sum() / (ours_mask | theirs_mask).sum()),
               "alpha_mad": float(np.abs(our_alpha - their_alpha).mean())}
    over_white = lambda p, a: p + (1.0 - a)  # noqa: E731
    composite = np.abs(over_white(ours, our_alpha) - over_white(theirs, their_alpha))
    columns = [over_white(ours, our_alpha), over_white(theirs, their_alpha),
               1.0 - np.clip(5.0 * composite, 0.0, 1.0)]
    figure = np.concatenate(columns, axis=1)
    return np.clip(np.rint(figure * 255.0), 0, 255).astype(np.uint8), metrics


def main(argv=None):
    parser = cli.parser("python -m pipelines.shading_preview", __doc__)
    parser.add_argument("-o", "--out", default="docs/shading_vs_blender.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--samples", type=int, default=64, help="Cycles samples per pixel")

    def body(args):
        from PIL import Image

        figure, metrics = compare(args.size, args.samples)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        Image.fromarray(figure, mode="L").save(args.out)
        print(json.dumps(metrics, indent=1))
        print(f"wrote {args.out}")

    return cli.run(body, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
