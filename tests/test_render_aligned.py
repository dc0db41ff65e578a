"""Tests of `blender/render_aligned.py`, `pipelines/render.py` and `alignment.mesh_coverage`.

The point of the renderer is alignment: a Blender mask must equal the NumPy
coverage of the same normalized mesh through the same camera. Both Blender
paths are real (the bpy module and the `blender` binary); the slow tests
share one bpy batch rendered once per session.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from pipelines import render
from tf3d import alignment, conventions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "blender", "render_aligned.py")
SIZE = 128  # the dataset's size: thin parts are about one pixel wide here
VOXEL = 1.0 / conventions.DEFAULT_RESOLUTION  # one voxel at 32^3, normalized units

HAS_BPY = importlib.util.find_spec("bpy") is not None
BLENDER = shutil.which("blender")
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy module not installed (pip install -e '.[render]')")
needs_blender = pytest.mark.skipif(BLENDER is None, reason="no blender binary (apt-get install blender python3-numpy)")


def _script_module():
    spec = importlib.util.spec_from_file_location("render_aligned", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _box(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return trimesh.creation.box(extents=hi - lo,
                                transform=trimesh.transformations.translation_matrix((lo + hi) / 2))


def _asymmetric():
    """An L of bars that differs under every flip and quarter turn (catches axis mistakes)."""
    return trimesh.util.concatenate([_box((-0.5, -0.1, -0.1), (0.5, 0.1, 0.1)),
                                     _box((0.3, 0.1, -0.1), (0.5, 0.7, 0.1)),
                                     _box((-0.5, -0.1, 0.1), (-0.3, 0.1, 0.9))])


def _table():
    """A 1 x 0.06 x 0.7 top on four cylinder legs."""
    parts = [_box((-0.5, 0.47, -0.35), (0.5, 0.53, 0.35))]
    for x in (-0.45, 0.45):
        for z in (-0.3, 0.3):
            leg = trimesh.creation.cylinder(radius=0.03, segment=((x, -0.03, z), (x, 0.47, z)), sections=24)
            parts.append(leg)
    return trimesh.util.concatenate(parts)


def _thin():
    """A rod and a vertical plate, both half a voxel (at 32^3) thick, on a unit-wide base bar."""
    t = 0.5 * VOXEL
    return trimesh.util.concatenate([_box((-0.5, 0.0, -0.05), (0.5, 0.05, 0.05)),
                                     _box((-0.4, 0.05, -t / 2), (-0.4 + t, 0.9, t / 2)),  # rod
                                     _box((0.1, 0.05, -t / 2), (0.4, 0.6, t / 2))])  # plate, normal +Z


def _write_off(mesh, path):
    with open(path, "w") as f:
        f.write(f"OFF\n{len(mesh.vertices)} {len(mesh.faces)} 0\n")
        f.writelines(f"{x!r} {y!r} {z!r}\n" for x, y, z in mesh.vertices)
        f.writelines(f"3 {a} {b} {c}\n" for a, b, c in mesh.faces)


def _coverages(mesh, cameras, supersample):
    """`[V, S, S]` reference coverage of `mesh` normalized, through the cameras of a cameras.json."""
    vertices = conventions.normalize_vertices(mesh.vertices)
    size = cameras["viewpoints"]["image_size"]
    return np.stack([alignment.mesh_coverage(vertices, mesh.faces, np.array(v["projection"]), size,
                                             supersample=supersample) for v in cameras["views"]])


def _ious(masks, coverage):
    return np.array([alignment.silhouette_iou(alignment.mask_from_alpha(m), c >= conventions.MASK_THRESHOLD)
                     for m, c in zip(masks, coverage)])


def _run(args, timeout=120):
    return subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, text=True, errors="replace",
                          timeout=timeout)


# ----------------------------------------------------------------------------- fast: no Blender


def test_mesh_coverage_matches_triangle_area():
    # Orthographic, 1 unit = 10 px: the right triangle (0,0)-(3,0)-(0,3) covers
    # 3 * 3 / 2 * 100 = 450 px^2; point sampling at 8x8 gets within a few px.
    projection = conventions.orthographic_matrix(conventions.look_at_extrinsics((0, 0, 5)), 3.2, 64)
    vertices = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    coverage = alignment.mesh_coverage(vertices, [[0, 1, 2]], projection, 64, perspective=False, supersample=8)
    assert abs(coverage.sum() - 450.0) < 3.0
    assert coverage.max() == 1.0 and coverage.min() == 0.0


def test_mesh_coverage_equals_voxel_coverage_of_a_box():
    voxels = np.zeros((8, 8, 8), bool)
    voxels[2:6, 1:4, 3:7] = True
    box = _box((-0.5 + 2 / 8, -0.5 + 1 / 8, -0.5 + 3 / 8), (-0.5 + 6 / 8, -0.5 + 4 / 8, -0.5 + 7 / 8))
    for projection in conventions.ViewpointSet(image_size=48).projections()[:3]:
        np.testing.assert_array_equal(alignment.mesh_coverage(box.vertices, box.faces, projection, 48),
                                      alignment.voxel_coverage(voxels, projection, 48))


def test_mesh_coverage_rejects_bad_input():
    p = conventions.DEFAULT_VIEWPOINTS.projections()[0]
    with pytest.raises(ValueError, match="faces"):
        alignment.mesh_coverage(np.zeros((3, 3)), [[0, 1, 3]], p, 8)
    with pytest.raises(ValueError, match="vertices"):
        alignment.mesh_coverage(np.zeros((3, 2)), [[0, 1, 2]], p, 8)
    with pytest.raises(ValueError, match="behind the camera"):
        alignment.mesh_coverage(np.array([[0, 0, 9.0], [1, 0, 9], [0, 1, 9]]), [[0, 1, 2]], p, 8)


def test_camera_matrix_maps_tf3d_projection_to_blender_camera():
    # A point seen through Blender's camera (x right, y up, looking down -z,
    # in Blender's Z-up world) lands where tf3d's projection puts it.
    script = _script_module()
    viewpoints = conventions.DEFAULT_VIEWPOINTS
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.5, 0.5, (20, 3))
    f = viewpoints.intrinsics()[0, 0]
    c = viewpoints.image_size / 2
    for extrinsic, projection in zip(viewpoints.extrinsics(), viewpoints.projections()):
        cam_to_world = script.camera_matrix_world(extrinsic)
        blender_points = points @ script._TF3D_TO_BLENDER.T
        local = (np.linalg.inv(cam_to_world) @ np.c_[blender_points, np.ones(20)].T).T[:, :3]
        uv = np.stack([c + f * local[:, 0] / -local[:, 2], c - f * local[:, 1] / -local[:, 2]], 1)
        np.testing.assert_allclose(uv, conventions.project(points, projection)[0], atol=1e-9)


def test_shade_and_mask_area_averages_and_writes_png(tmp_path):
    from PIL import Image

    script = _script_module()
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (100, 100, 100, 255)  # one of the four samples of pixel (0, 0)
    rgba[2:, 2:] = (200, 200, 200, 255)  # all of pixel (1, 1)
    image, mask = script.shade_and_mask(rgba, 2)
    np.testing.assert_array_equal(mask, [[64, 0], [0, 255]])  # 0.25 and 1 coverage
    # Premultiplied mean over white: 100/4 + 255 * 3/4 = 216.25; opaque 200 stays 200.
    np.testing.assert_array_equal(image, [[216, 255], [255, 200]])
    script.write_png_gray(tmp_path / "m.png", mask)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), mask)


def test_cli_rejects_unknown_option_and_unpaired_out(tmp_path):
    result = _run(["--mesh", "a.obj", "--out", str(tmp_path), "--colour", "red"])
    assert result.returncode == 2 and "--colour" in result.stderr
    result = _run(["--mesh", "a.obj", "--mesh", "b.obj", "--out", str(tmp_path)])
    assert result.returncode == 2 and "paired" in result.stderr


def test_resolve_backend_names_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv(render.BLENDER_ENV, raising=False)
    with pytest.raises(render.RenderError, match="pip install.*apt-get install blender"):
        render.resolve_backend("auto")
    with pytest.raises(render.RenderError, match="bpy module is not importable"):
        render.resolve_backend("bpy")
    with pytest.raises(ValueError, match="backend"):
        render.resolve_backend("maya")


# ----------------------------------------------------------------------------- slow: real Blender


@pytest.fixture(scope="session")
def bpy_batch(tmp_path_factory):
    """One `render_meshes` batch through the bpy module: good and broken meshes mixed."""
    if not HAS_BPY:
        pytest.skip("bpy module not installed (pip install -e '.[render]')")
    from pipelines import synthetic

    root = tmp_path_factory.mktemp("render")
    meshes = {"table": _table(), "asym": _asymmetric(), "thin": _thin(),
              "chair": synthetic.generate("chair", seed=3)}
    offset = meshes["asym"].copy()
    offset.apply_translation((1.0e4, -3.0e3, 2.0e3))
    jobs = {}
    for name, mesh in meshes.items():
        mesh.export(root / f"{name}.obj")
        jobs[name] = root / f"{name}.obj"
    offset.export(root / "offset.obj")
    meshes["table"].export(root / "table.ply")
    _write_off(meshes["asym"], root / "asym.off")
    jobs.update(offset=root / "offset.obj", table_ply=root / "table.ply", asym_off=root / "asym.off")
    (root / "garbage.obj").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "empty.obj").write_text("")
    (root / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    broken = {"garbage": root / "garbage.obj", "empty": root / "empty.obj",
              "points": root / "points.obj", "missing": root / "missing.obj"}
    jobs.update(broken)
    failures = render.render_meshes([(path, root / name) for name, path in jobs.items()], backend="bpy")
    return root, meshes, broken, failures


@needs_bpy
@pytest.mark.slow
def test_bpy_masks_match_mesh_coverage(bpy_batch):
    root, meshes, _, _ = bpy_batch
    for name in ("table", "asym", "thin", "chair"):
        images, masks, cameras = render.load_rendering(root / name)
        assert images.shape == masks.shape == (8, SIZE, SIZE) and images.dtype == np.uint8
        assert cameras["engine"] == "BLENDER_WORKBENCH" and cameras["supersample"] == 2
        np.testing.assert_allclose(cameras["views"][1]["projection"],
                                   conventions.DEFAULT_VIEWPOINTS.projections()[1])
        # Same sample points as the renderer: the masks agree pixel for pixel.
        same = _ious(masks, _coverages(meshes[name], cameras, supersample=2))
        assert same.min() >= 0.99, (name, same)
        if name in ("table", "asym"):
            # Against a finer reference the coverage (alpha) is area-accurate.
            fine = _coverages(meshes[name], cameras, supersample=4)
            assert np.abs(masks / 255.0 - fine).mean() < 0.01, name
            assert _ious(masks, fine).min() >= 0.93, name
        # Shaded object over white: white exactly where nothing is covered.
        assert np.all(images[masks == 0] == 255) and images[masks == 255].max() < 240


@needs_bpy
@pytest.mark.slow
def test_bpy_thin_parts_show(bpy_batch):
    root, meshes, _, _ = bpy_batch
    images, masks, cameras = render.load_rendering(root / "thin")
    scale, translation = conventions.normalization(meshes["thin"].vertices)
    rod_x = -0.4 + 0.25 * VOXEL  # the rod's axis, before normalization
    for view, (image, mask) in enumerate(zip(images, masks)):
        projection = np.array(cameras["views"][view]["projection"])
        # Every image row along the rod has some coverage next to the rod's projected axis.
        for y in np.linspace(0.1, 0.85, 12):
            point = np.array([[rod_x, y, 0.0]]) * scale + translation
            u, v = conventions.project(point, projection)[0][0]
            row, col = int(v), int(u)
            assert mask[row, col - 1:col + 2].max() > 0, (view, y)
            assert image[row, col - 1:col + 2].min() < 255, (view, y)
    # The plate seen edge-on (azimuths 90 and 270) is still there.
    reference = _coverages(meshes["thin"], cameras, supersample=2)
    assert masks[2].sum() > 0 and abs(masks[2].sum() / 255.0 - reference[2].sum()) < 1.0


@needs_bpy
@pytest.mark.slow
def test_bpy_formats_and_offsets_render_identically(bpy_batch):
    root, _, _, _ = bpy_batch
    _, asym, _ = render.load_rendering(root / "asym")
    _, offset, cameras = render.load_rendering(root / "offset")
    # 1e4 is ~1e4 object sizes away: float32 keeps ~1e-3, a tenth of a pixel. That can still flip a
    # whole row of pixels whose 2x2 samples an edge passes within a tenth of a pixel of (view 6 of this
    # L: an edge 0.002 px from a sample row), so the masks must agree everywhere but on the
    # silhouette's boundary pixels, and on average to within one alpha level.
    for view, (moved, still) in enumerate(zip(offset, asym)):
        inside = alignment.mask_from_alpha(still)
        boundary = ndimage.binary_dilation(inside) & ~ndimage.binary_erosion(inside)
        assert not ((alignment.mask_from_alpha(moved) != inside) & ~boundary).any(), view
    assert np.abs(offset.astype(int) - asym).mean() < 1.0
    assert cameras["normalization"]["translation"][0] < -1e3
    _, off_masks, _ = render.load_rendering(root / "asym_off")
    np.testing.assert_array_equal(off_masks, asym)
    _, table, _ = render.load_rendering(root / "table")
    _, table_ply, _ = render.load_rendering(root / "table_ply")
    np.testing.assert_array_equal(table_ply, table)


@needs_bpy
@pytest.mark.slow
def test_bpy_broken_meshes_are_reported_and_skipped(bpy_batch):
    root, _, broken, failures = bpy_batch
    reasons = {os.path.basename(path): reason for path, reason in failures}
    assert sorted(reasons) == sorted(os.path.basename(p) for p in broken.values())
    assert reasons["missing.obj"] == "no such file" and "no faces" in reasons["points.obj"]
    for name in broken:
        assert not (root / name).exists()


@needs_blender
@pytest.mark.slow
def test_blender_binary_matches_mesh_coverage_and_bpy(tmp_path, bpy_batch):
    root, meshes, _, _ = bpy_batch
    mesh = root / "asym.obj"
    failures = render.render_meshes([(mesh, tmp_path / "asym"), (tmp_path / "nope.ply", tmp_path / "nope")],
                                    backend="blender")
    assert [os.path.basename(m) for m, _ in failures] == ["nope.ply"]
    assert not (tmp_path / "nope").exists()
    images, masks, cameras = render.load_rendering(tmp_path / "asym")
    assert cameras["blender_version"]
    assert _ious(masks, _coverages(meshes["asym"], cameras, supersample=2)).min() >= 0.99
    _, bpy_masks, _ = render.load_rendering(root / "asym")
    assert _ious(masks, bpy_masks / 255.0).min() >= 0.99


@needs_bpy
@pytest.mark.slow
def test_cycles_is_aligned_too(tmp_path):
    mesh_path = tmp_path / "asym.obj"
    _asymmetric().export(mesh_path)
    views = tmp_path / "views.json"
    views.write_text(json.dumps(conventions.ViewpointSet(azimuths=(30.0, 250.0), image_size=48).to_dict()))
    result = _run(["--mesh", str(mesh_path), "--out", str(tmp_path / "out"), "--engine", "cycles",
                   "--viewpoints", str(views), "--supersample", "1"])
    assert result.returncode == 0, result.stderr[-2000:]
    images, masks, cameras = render.load_rendering(tmp_path / "out")
    assert cameras["engine"] == "CYCLES" and masks.shape == (2, 48, 48)
    fine = _coverages(_asymmetric(), cameras, supersample=4)
    assert _ious(masks, fine).min() >= 0.95


@needs_bpy
@pytest.mark.slow
def test_in_place_renders_an_already_normalized_mesh_where_it_is(tmp_path):
    from pipelines import meshes

    box = trimesh.creation.box([0.2, 0.3, 0.1])
    box.apply_translation([0.2, -0.1, 0.05])  # small and off-centre: normalization would move it
    path = str(tmp_path / "box.obj")
    meshes.save_obj(path, box.vertices, box.faces)
    views = conventions.ViewpointSet(azimuths=(0.0, 90.0), image_size=64)
    assert render.render_meshes([(path, tmp_path / "in_place")], views, backend="bpy", in_place=True) == []
    assert render.render_meshes([(path, tmp_path / "normalized")], views, backend="bpy") == []
    _, in_place, cameras = render.load_rendering(tmp_path / "in_place")
    _, normalized, _ = render.load_rendering(tmp_path / "normalized")
    assert cameras["normalization"] == {"scale": 1.0, "translation": [0.0, 0.0, 0.0]}
    for view, projection in enumerate(views.projections()):
        reference = alignment.mesh_coverage(box.vertices, box.faces, projection, 64, supersample=2) >= 0.5
        assert alignment.silhouette_iou(in_place[view] >= 128, reference) >= 0.95, view
        assert alignment.silhouette_iou(normalized[view] >= 128, reference) < 0.5, view
