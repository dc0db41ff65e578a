"""Render one mesh with per-vertex albedo under a sun and uniform ambient light, Lambertian.

The Blender side of `pipelines.shading_preview`, which compares it with
`tf3d.ops.lambertian_shading`. Cycles is set up so that the light transport
is exactly Lambert's law with an ambient term and nothing else:

    radiance = albedo * (ambient + sun_strength / pi * max(0, n . l))

- a Diffuse BSDF (pure Lambertian) whose colour is the per-vertex albedo
  (a float colour attribute, interpolated over each face);
- a uniform world of colour `ambient`, seen by the surface without
  occlusion: the object is invisible to diffuse bounce rays and casts no
  shadows, so there is neither ambient occlusion nor interreflection, and
  the world is not sampled as a light, so cosine-weighted bounces see it
  with zero variance;
- a sun (angle 0) towards `light_direction`, of strength `pi * diffuse`;
- flat shading (face normals), lit on the side the camera sees (Cycles
  flips back-facing normals);
- a 1-pixel box filter, so alpha is each pixel's coverage.

Cameras come from `render_aligned.py` (tf3d's conventions). Run with the
venv's Python (the `bpy` module) or `blender --background -P ... --`:

    python blender/render_lambertian.py --job job.json
    python blender/render_lambertian.py --batch batch.json

`--batch` renders many meshes, each from its own views and lights, in one
process (the shaded dataset, `pipelines.shaded`): batch.json is
{"viewpoints": ViewpointSet.to_dict() (fov, distance, image size; its
azimuths are ignored), "samples": int, "models": [{"mesh": "mesh.npz",
"views": [{"extrinsics": [3, 4], "light_direction": [3], "ambient": float,
"diffuse": float}, ...], "out": "model.npy"}, ...]}; each `out` receives
float32 [K, S, S, 2] for its K views, as below.

`job.json`: {"mesh": "mesh.npz" (vertices [V, 3], faces [F, 3], albedo [V]
in tf3d's normalized frame), "viewpoints": ViewpointSet.to_dict() with one
azimuth, "light_direction": [3], "ambient": float, "diffuse": float,
"samples": int, "out": "render.npy"}. Writes `out`: float32 [S, S, 2], the
linear radiance premultiplied by alpha, and alpha.
"""

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_aligned  # noqa: E402  (tf3d's camera convention in Blender)

from tf3d import conventions  # noqa: E402  (render_aligned put the repo root on sys.path)


def _mesh_object(vertices, faces, albedo):
    import bpy

    to_blender = render_aligned._TF3D_TO_BLENDER
    mesh = bpy.data.meshes.new("lambertian")
    mesh.from_pydata((np.asarray(vertices) @ to_blender.T).tolist(), [], np.asarray(faces).tolist())
    mesh.polygons.foreach_set("use_smooth", [False] * len(mesh.polygons))  # face normals
    colour = mesh.color_attributes.new("albedo", "FLOAT_COLOR", "POINT")
    rgba = np.repeat(np.asarray(albedo, np.float32)[:, None], 4, axis=1)
    rgba[:, 3] = 1.0
    colour.data.foreach_set("color", rgba.ravel())
    obj = bpy.data.objects.new("lambertian", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.visible_shadow = False  # no shadows, from the sun or the world
    obj.visible_diffuse = False  # bounce rays escape to the world: no occlusion, no interreflection

    material = bpy.data.materials.new("lambertian")
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_name = "albedo"
    bsdf = nodes.new("ShaderNodeBsdfDiffuse")
    bsdf.inputs["Roughness"].default_value = 0.0  # Lambert, not Oren-Nayar
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(attribute.outputs["Color"], bsdf.inputs["Color"])
    links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
    mesh.materials.append(material)
    return obj


def _setup(viewpoints, samples):
    """The Lambertian scene without a mesh; returns (camera, sun)."""
    import bpy

    camera, _ = render_aligned.setup_scene(viewpoints, "cycles", 1)
    scene = bpy.context.scene
    bpy.context.view_layer.material_override = None  # render_aligned's gray material
    bpy.data.objects.remove(bpy.data.objects["tf3d_key"])  # and its camera-bound key light
    scene.cycles.samples = int(samples)
    scene.cycles.max_bounces = 1
    scene.render.image_settings.file_format = "OPEN_EXR"  # linear, full precision
    scene.render.image_settings.color_depth = "32"
    scene.world.cycles.sampling_method = "NONE"
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.angle = 0.0
    sun.data.use_shadow = False
    sun.rotation_mode = "QUATERNION"
    scene.collection.objects.link(sun)
    return camera, sun


def _render_view(camera, sun, extrinsic, light_direction, ambient, diffuse, size, path):
    """Renders the scene's mesh through `extrinsic` `[3, 4]` under one light: float32 [S, S, 2]."""
    import bpy
    from mathutils import Matrix, Vector

    scene = bpy.context.scene
    scene.world.node_tree.nodes["Background"].inputs["Color"].default_value = (float(ambient),) * 3 + (1.0,)
    sun.data.energy = math.pi * float(diffuse)  # irradiance; radiance = albedo / pi * E cos
    towards = render_aligned._TF3D_TO_BLENDER @ np.asarray(light_direction, np.float64)
    sun.rotation_quaternion = Vector(towards.tolist()).to_track_quat("Z", "Y")  # emits along -Z
    camera.matrix_world = Matrix(render_aligned.camera_matrix_world(np.asarray(extrinsic)).tolist())
    scene.render.filepath = path
    with render_aligned._Quiet():
        bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(path)
    rgba = np.array(image.pixels[:], np.float32).reshape(size, size, 4)[::-1]  # Blender: bottom row first
    bpy.data.images.remove(image)
    gray = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # premultiplied (film transparent)
    return np.stack([gray, rgba[..., 3]], axis=-1)


def render(job):
    viewpoints = conventions.ViewpointSet.from_dict(job["viewpoints"])
    camera, sun = _setup(viewpoints, job["samples"])
    data = np.load(job["mesh"])
    _mesh_object(data["vertices"], data["faces"], data["albedo"])
    path = os.path.join(os.path.dirname(os.path.abspath(job["out"])), "render.exr")
    np.save(job["out"], _render_view(camera, sun, viewpoints.extrinsics()[0], job["light_direction"],
                                     job["ambient"], job["diffuse"], viewpoints.image_size, path))


def render_batch(batch):
    """Renders every model of `batch` (see the module docstring) in this one process."""
    import tempfile

    import bpy

    viewpoints = conventions.ViewpointSet.from_dict(batch["viewpoints"])
    camera, sun = _setup(viewpoints, batch["samples"])
    with tempfile.TemporaryDirectory(prefix="tf3d_lambertian_") as scratch:
        path = os.path.join(scratch, "render.exr")
        for model in batch["models"]:
            data = np.load(model["mesh"])
            obj = _mesh_object(data["vertices"], data["faces"], data["albedo"])
            views = [_render_view(camera, sun, v["extrinsics"], v["light_direction"], v["ambient"],
                                  v["diffuse"], viewpoints.image_size, path) for v in model["views"]]
            np.save(model["out"], np.stack(views))
            mesh, material = obj.data, obj.data.materials[0]
            bpy.data.objects.remove(obj)
            bpy.data.meshes.remove(mesh)
            bpy.data.materials.remove(material)


def main(argv):
    args = render_aligned._script_argv(argv)
    if len(args) != 2 or args[0] not in ("--job", "--batch"):
        sys.stderr.write("usage: render_lambertian.py --job JOB.json | --batch BATCH.json\n")
        return 2
    with open(args[1]) as f:
        (render if args[0] == "--job" else render_batch)(json.load(f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
