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


def render(job):
    import bpy
    from mathutils import Matrix, Vector

    viewpoints = conventions.ViewpointSet.from_dict(job["viewpoints"])
    camera, _ = render_aligned.setup_scene(viewpoints, "cycles", 1)
    scene = bpy.context.scene
    bpy.context.view_layer.material_override = None  # render_aligned's gray material
    bpy.data.objects.remove(bpy.data.objects["tf3d_key"])  # and its camera-bound key light
    scene.cycles.samples = int(job["samples"])
    scene.cycles.max_bounces = 1
    scene.render.image_settings.file_format = "OPEN_EXR"  # linear, full precision
    scene.render.image_settings.color_depth = "32"
    world = scene.world
    ambient = float(job["ambient"])
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (ambient,) * 3 + (1.0,)
    world.cycles.sampling_method = "NONE"

    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = math.pi * float(job["diffuse"])  # irradiance; radiance = albedo / pi * E cos
    sun.data.angle = 0.0
    sun.data.use_shadow = False
    towards = render_aligned._TF3D_TO_BLENDER @ np.asarray(job["light_direction"], np.float64)
    sun.rotation_mode = "QUATERNION"
    sun.rotation_quaternion = Vector(towards.tolist()).to_track_quat("Z", "Y")  # emits along -Z
    scene.collection.objects.link(sun)

    data = np.load(job["mesh"])
    _mesh_object(data["vertices"], data["faces"], data["albedo"])
    camera.matrix_world = Matrix(render_aligned.camera_matrix_world(viewpoints.extrinsics()[0]).tolist())
    path = os.path.join(os.path.dirname(os.path.abspath(job["out"])), "render.exr")
    scene.render.filepath = path
    with render_aligned._Quiet():
        bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(path)
    size = viewpoints.image_size
    rgba = np.array(image.pixels[:], np.float32).reshape(size, size, 4)[::-1]  # Blender: bottom row first
    gray = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # premultiplied (film transparent)
    np.save(job["out"], np.stack([gray, rgba[..., 3]], axis=-1))


def main(argv):
    args = render_aligned._script_argv(argv)
    if len(args) != 2 or args[0] != "--job":
        sys.stderr.write("usage: render_lambertian.py --job JOB.json\n")
        return 2
    with open(args[1]) as f:
        render(json.load(f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
