"""Tests of pipelines/binvox.py and pipelines/r2n2.py.

Real data: `tests/data/r2n2` is one chair of the 3D-R2N2 release cut to two
views (its binvox file unchanged); `../shared/r2n2-sample` (six chairs, all 24
views) is used when present. Generated data: `write_r2n2_model` renders a
voxel chair the way 3D-R2N2's Blender script places its camera (quaternions
in Blender's Z-up world, the OBJ importer's turn about X, 35 mm lens on a
32 mm sensor), an implementation independent of `r2n2.view_cameras`.
"""

import io
import math
import os

import numpy as np
import pytest

from pipelines import binvox, r2n2, shapenet
from tests.conftest import box_model
from tf3d import alignment, conventions
from tf3d.data import records

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURE = os.path.join(HERE, "data", "r2n2")
FIXTURE_MODEL = "1a8bbf2994788e2743e99e0cae970928"
SAMPLE = os.path.normpath(os.path.join(REPO, "..", "shared", "r2n2-sample"))
needs_sample = pytest.mark.skipif(
    not os.path.isdir(SAMPLE), reason=f"the real 3D-R2N2 sample is not at {SAMPLE} (../shared/r2n2-sample)")


def _fixture_paths(root=FIXTURE, model=FIXTURE_MODEL):
    return (os.path.join(root, "ShapeNetRendering", "03001627", model, "rendering"),
            os.path.join(root, "ShapeNetVox32", "03001627", model, "model.binvox"))


# ----------------------------------------------------------------------------- binvox


def test_binvox_header_and_xzy_body_by_hand():
    # dim 2: flat index = x*4 + z*2 + y, so voxel (x=1, y=0, z=1) is index 6:
    # runs (0 x6), (1 x1), (0 x1).
    data = b"#binvox 1\ndim 2 2 2\ntranslate 0.5 -1 2\nscale 3\ndata\n" + bytes([0, 6, 1, 1, 0, 1])
    grid = binvox.decode(data)
    expected = np.zeros((2, 2, 2), bool)
    expected[1, 0, 1] = True
    np.testing.assert_array_equal(grid.voxels, expected)
    np.testing.assert_allclose(grid.translate, [0.5, -1.0, 2.0])
    assert grid.scale == 3.0
    # centre of voxel (1, 0, 1): translate + (index + 0.5) * scale / R
    np.testing.assert_allclose(grid.voxel_centres([[1, 0, 1]]), [[0.5 + 2.25, -1 + 0.75, 2 + 2.25]])
    assert binvox.encode(expected, (0.5, -1, 2), 3).endswith(bytes([0, 6, 1, 1, 0, 1]))


def test_binvox_round_trip_long_runs_and_header():
    rng = np.random.default_rng(0)
    grid = np.zeros((32, 32, 32), bool)
    grid[:8] = True  # one run of 8 * 32 * 32 voxels: split into runs of at most 255
    grid[16:] = rng.random((16, 32, 32)) < 0.3
    data = binvox.encode(grid, translate=(-0.25, 0.125, 3.5), scale=0.75)
    header, body = data.split(b"data\n", 1)
    assert b"dim 32 32 32" in header and b"translate -0.25 0.125 3.5" in header and b"scale 0.75" in header
    counts = np.frombuffer(body, np.uint8)[1::2]
    assert counts.max() == 255 and counts.min() >= 1 and counts.sum() == 32 ** 3
    back = binvox.decode(data)
    np.testing.assert_array_equal(back.voxels, grid)
    np.testing.assert_allclose(back.translate, [-0.25, 0.125, 3.5])
    assert back.scale == 0.75


@pytest.mark.parametrize("data, message", [
    (b"PLY\n", "not a binvox file"),
    (b"#binvox 1\ndim 2 2 3\ndata\n" + bytes([0, 12]), "cubic"),
    (b"#binvox 1\ndim 2 2 2\ndata\n" + bytes([0, 6, 1]), "odd number"),
    (b"#binvox 1\ndim 2 2 2\ndata\n" + bytes([0, 6, 1, 1]), "encodes 7 voxels"),
    (b"#binvox 1\ndim 2 2 2\ndata\n" + bytes([0, 8, 1, 0]), "empty runs"),
])
def test_binvox_rejects_bad_files(data, message):
    with pytest.raises(ValueError, match=message):
        binvox.decode(data, name="bad.binvox")


def test_binvox_real_file_header_body_and_axes():
    _, path = _fixture_paths()
    with open(path, "rb") as fh:
        raw = fh.read()
    grid = binvox.read(path)
    np.testing.assert_allclose(grid.translate, [-0.218927, -0.392609, -0.218927])
    assert grid.scale == pytest.approx(0.785218) and grid.voxels.shape == (32, 32, 32)
    assert grid.voxels.sum() == 3166
    # Re-encoding reproduces the release's run-length body byte for byte.
    assert binvox.encode(grid.voxels, grid.translate, grid.scale).split(b"data\n", 1)[1] == \
        raw.split(b"data\n", 1)[1]
    # Axis order: the chair stands on y = 0 and is symmetric left-right (z in v1) ...
    np.testing.assert_array_equal(grid.voxels, grid.voxels[:, :, ::-1])
    assert grid.voxels[:, 0].any() and grid.voxels[:, 31].any()
    # ... with its back rest (the top layers) at -X in v1 and at -Z in tf3d's frame.
    assert np.argwhere(grid.voxels[:, 28:])[:, 0].mean() < 12
    world = shapenet.v1_grid_to_world(grid.voxels)
    assert np.argwhere(world[:, 28:])[:, 2].mean() < 12
    np.testing.assert_array_equal(world, world[::-1])  # symmetric left-right (x) now


def test_v1_grid_to_world_is_the_v1_rotation():
    grid = np.zeros((4, 4, 4), bool)
    grid[3, 1, 0] = True  # v1 front (+X), right side? z = 0 -> v1 -z side
    world = shapenet.v1_grid_to_world(grid)
    centre = conventions.voxel_centers(4)
    expected = shapenet.V1_TO_WORLD @ centre[[3, 1, 0]]
    assert np.argwhere(world).tolist() == [list(np.argmin(np.abs(centre[:, None] - expected), 0))]
    np.testing.assert_allclose(shapenet.V1_TO_WORLD @ [1, 0, 0], [0, 0, 1])  # front -> +Z
    with pytest.raises(ValueError, match="voxels must have shape"):
        shapenet.v1_grid_to_world(np.zeros((4, 4)))


# ----------------------------------------------------------------------------- cameras and images


def test_metadata_parsing_and_intrinsics():
    rows = r2n2.parse_metadata("104.76 26.33 0 0.71 25\n\n195.99 27.35 5 0.91 25\n")
    assert rows.shape == (2, 5)
    with pytest.raises(ValueError, match=r"meta:1: expected 5 numbers"):
        r2n2.parse_metadata("1 2 3 4\n", name="meta")
    with pytest.raises(ValueError, match="distance ratio must be positive"):
        r2n2.parse_metadata("1 2 3 0 25\n")
    with pytest.raises(ValueError, match="no views"):
        r2n2.parse_metadata("\n")
    azimuths, elevations, k, e = r2n2.view_cameras(rows)
    np.testing.assert_allclose(azimuths, [360 - 104.76, 360 - 195.99])
    np.testing.assert_allclose(elevations, [26.33, 27.35])
    # 35 mm lens on a 32 mm sensor over 137 px: f = 137 * 35 / 32 = 149.84375, c = 68.5.
    np.testing.assert_allclose(k[0], [[149.84375, 0, 68.5], [0, 149.84375, 68.5], [0, 0, 1]])
    # Camera centre at distance ratio * 1.75 from the origin.
    eye = -np.linalg.solve(e[0, :, :3], e[0, :, 3])
    assert np.linalg.norm(eye) == pytest.approx(0.71 * 1.75)


def test_convert_image_composites_luminance_over_white():
    from PIL import Image

    rgba = np.zeros((137, 137, 4), np.uint8)
    rgba[10, 20] = (255, 0, 0, 255)   # red, opaque: ITU-R 601 luminance 0.299 * 255
    rgba[11, 20] = (0, 0, 0, 128)     # black, half covered
    rgba[12, 20] = (9, 9, 9, 0)       # colour under zero alpha is ignored
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    gray_png, alpha_png = r2n2.convert_image(buffer.getvalue())
    gray, alpha = records._decode_png(gray_png), records._decode_png(alpha_png)
    assert gray[10, 20] == 76 and gray[11, 20] == 127 and gray[12, 20] == 255 and gray[0, 0] == 255
    np.testing.assert_array_equal(alpha, rgba[..., 3])


# ----------------------------------------------------------------------------- generated R2N2 data


def _quaternion_matrix(q):
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def r2n2_blender_projection(azimuth, elevation, in_plane, ratio, size=137):
    """`[3, 4]` projection of Blender world points through 3D-R2N2's camera of one view.

    Blender's world is Z-up; the camera looks down its local -Z with local +Y
    up. Its location is `obj_centened_camera_pos` of 3D-R2N2 / RenderForCNN
    with the azimuth negated (measured on the real release), it tracks the
    origin with +Z up, and the in-plane rotation is `camRotQuaternion`: a turn
    by `in_plane` about the origin-to-camera axis applied after the tracking.
    """
    a, e = math.radians(-azimuth), math.radians(elevation)
    location = ratio * 1.75 * np.array([math.cos(a) * math.cos(e), math.sin(a) * math.cos(e), math.sin(e)])
    back = location / np.linalg.norm(location)  # camera local +Z
    right = np.cross([0.0, 0.0, 1.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    tracking = np.stack([right, up, back], axis=1)  # camera-to-world, columns = local axes
    half = math.radians(in_plane) / 2
    turn = _quaternion_matrix([math.cos(half), *(math.sin(half) * back)])
    camera_to_world = turn @ tracking
    world_to_camera = camera_to_world.T
    opencv = np.diag([1.0, -1.0, -1.0])  # Blender camera axes -> x right, y down, z forward
    extrinsic = np.concatenate([opencv @ world_to_camera, (opencv @ world_to_camera @ -location)[:, None]], 1)
    focal = size * 35.0 / 32.0
    return np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]]) @ extrinsic


def write_r2n2_model(renderings, voxels_root, synset, model_id, grid_world, metadata):
    """Writes one model in the R2N2 layout from a tf3d-frame grid and metadata rows `[V, 5]`."""
    from PIL import Image

    r = grid_world.shape[0]
    # The same chair in ShapeNet v1 axes (front +X), as the release stores it.
    grid_v1 = np.transpose(grid_world, (2, 1, 0))[:, :, ::-1]
    model_voxels = os.path.join(voxels_root, synset, model_id)
    rendering_dir = os.path.join(renderings, synset, model_id, "rendering")
    os.makedirs(model_voxels)
    os.makedirs(rendering_dir)
    # A header that does not describe the unit-diagonal frame, like most of the release's.
    binvox.write(os.path.join(model_voxels, "model.binvox"), grid_v1, (-0.3, -0.41, -0.2), 0.8)
    occupied = np.argwhere(grid_v1)
    lo, hi = occupied.min(0), occupied.max(0) + 1.0
    centre, diagonal = (lo + hi) / 2, np.linalg.norm(hi - lo)
    import_turn = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # OBJ (Y up) -> Blender (Z up)
    # grid cube point w -> voxel units r * (w + 0.5) -> unit-diagonal frame -> Blender world
    cube_to_blender = np.eye(4)
    cube_to_blender[:3, :3] = import_turn * (r / diagonal)
    cube_to_blender[:3, 3] = import_turn @ ((0.5 * r - centre) / diagonal)
    lines = []
    for view, row in enumerate(metadata):
        projection = r2n2_blender_projection(*row[:4]) @ cube_to_blender
        coverage = alignment.voxel_coverage(grid_v1, projection, 137)
        rgba = np.zeros((137, 137, 4), np.uint8)
        rgba[..., :3] = (200, 120, 40)
        rgba[..., 3] = np.round(coverage * 255)
        Image.fromarray(rgba, "RGBA").save(os.path.join(rendering_dir, f"{view:02d}.png"))
        lines.append(" ".join(repr(float(v)) for v in row))
    with open(os.path.join(rendering_dir, "rendering_metadata.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return rendering_dir, os.path.join(model_voxels, "model.binvox")


def random_metadata(rng, views):
    return np.stack([rng.uniform(0, 360, views), rng.uniform(25, 30, views), rng.uniform(-30, 30, views),
                     rng.uniform(0.65, 0.95, views), np.full(views, 25.0)], axis=1)


def test_generated_model_aligns_and_keeps_its_grid(tmp_path):
    rng = np.random.default_rng(3)
    grid = box_model("chair", rng)
    grid = np.roll(grid, (1, -1, 2), axis=(0, 1, 2))  # off-centre: the cameras must follow it
    metadata = random_metadata(rng, 6)
    metadata[0, 2] = 0.0
    rendering_dir, voxel_path = write_r2n2_model(
        str(tmp_path / "ShapeNetRendering"), str(tmp_path / "ShapeNetVox32"), "03001627", "gen0", grid, metadata)
    record = records.decode_example(r2n2.encode_model("gen0", "chair", rendering_dir, voxel_path))
    np.testing.assert_array_equal(record["voxels"], grid)  # tf3d axes, no resampling
    ious = alignment.view_ious(record["voxels"], record["masks"], record["intrinsics"], record["extrinsics"])
    assert ious.min() > 0.99, ious
    # Stored angles are the cameras' directions in tf3d's convention.
    for azimuth, elevation, extrinsic in zip(record["azimuths"], record["elevations"], record["extrinsics"]):
        eye = -np.linalg.solve(extrinsic[:, :3].astype(np.float64), extrinsic[:, 3])
        _, centre = r2n2.grid_similarity(grid)
        direction = (eye - centre) / np.linalg.norm(eye - centre)
        np.testing.assert_allclose(direction, conventions.camera_position(azimuth, elevation, 1.0), atol=1e-5)
    gray = records._decode_png(r2n2.convert_image(open(os.path.join(rendering_dir, "00.png"), "rb").read())[0])
    np.testing.assert_array_equal(record["images"][0], gray)


def test_in_plane_rotation_sign_matters(tmp_path):
    rng = np.random.default_rng(4)
    grid = box_model("chair", rng)
    metadata = random_metadata(rng, 2)
    metadata[:, 2] = 25.0
    rendering_dir, voxel_path = write_r2n2_model(
        str(tmp_path / "R"), str(tmp_path / "V"), "03001627", "gen1", grid, metadata)
    record = records.decode_example(r2n2.encode_model("gen1", "chair", rendering_dir, voxel_path))
    right = alignment.view_ious(grid, record["masks"], record["intrinsics"], record["extrinsics"])
    flipped = metadata.copy()
    flipped[:, 2] *= -1
    _, _, k, e = r2n2.model_cameras(grid, flipped)
    wrong = alignment.view_ious(grid, record["masks"], k, e)
    assert right.min() > 0.99 and wrong.max() < 0.9, (right, wrong)


def test_bad_models_become_skip_reasons(tmp_path):
    pytest.importorskip("pipelines.shards", reason="pipelines/shards.py (the sharded writer) is not there yet")
    from pipelines.shards import ModelSource, SkipModel

    rng = np.random.default_rng(5)
    renderings, voxels = str(tmp_path / "R"), str(tmp_path / "V")
    write_r2n2_model(renderings, voxels, "03001627", "good", box_model("chair", rng), random_metadata(rng, 2))
    empty_dir, empty_path = write_r2n2_model(renderings, voxels, "03001627", "empty",
                                             box_model("chair", rng), random_metadata(rng, 2))
    binvox.write(empty_path, np.zeros((32, 32, 32), bool))
    missing_dir, _ = write_r2n2_model(renderings, voxels, "03001627", "missing",
                                      box_model("chair", rng), random_metadata(rng, 2))
    os.remove(os.path.join(missing_dir, "01.png"))
    os.makedirs(os.path.join(renderings, "03001627", "novox", "rendering"))
    found = r2n2.find_models(renderings, voxels, ["03001627"])
    assert [row[1] for row in found] == ["empty", "good", "missing", "novox"]
    sources = [ModelSource(model_id=m, category="chair", split="train", path=d, extra={"voxels": v})
               for _, m, d, v in found]
    results = {s.model_id: out for s, out in r2n2.process_r2n2_shard(sources, str(tmp_path))}
    assert isinstance(results["good"], bytes)
    assert isinstance(results["empty"], SkipModel) and "empty" in str(results["empty"])
    assert isinstance(results["missing"], SkipModel) and "01.png is missing" in str(results["missing"])
    assert isinstance(results["novox"], SkipModel)


# ----------------------------------------------------------------------------- real data


def _real_ious(root, model):
    rendering_dir, voxel_path = _fixture_paths(root, model)
    record = records.decode_example(r2n2.encode_model(model, "chair", rendering_dir, voxel_path))
    return alignment.view_ious(record["voxels"], record["masks"], record["intrinsics"], record["extrinsics"])


def test_real_fixture_views_align():
    ious = _real_ious(FIXTURE, FIXTURE_MODEL)
    assert len(ious) == 2 and ious.min() > 0.8, ious


# ----------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_r2n2_command_on_generated_data(tmp_path):
    from tests.test_shapenet import _run, check_verify_and_train

    rng = np.random.default_rng(6)
    renderings, voxels = str(tmp_path / "ShapeNetRendering"), str(tmp_path / "ShapeNetVox32")
    split = []
    for i, (synset, category) in enumerate([("03001627", "chair")] * 3 + [("04379243", "table")] * 2):
        write_r2n2_model(renderings, voxels, synset, f"m{i}", box_model(category, rng), random_metadata(rng, 4))
        split.append(f"{'val' if i in (1, 4) else 'train'} {synset}/m{i}")
    _, empty = write_r2n2_model(renderings, voxels, "03001627", "empty", box_model("chair", rng),
                                random_metadata(rng, 4))
    binvox.write(empty, np.zeros((32, 32, 32), bool))
    split.append("train 03001627/empty")
    (tmp_path / "split.txt").write_text("\n".join(split) + "\n")
    out = str(tmp_path / "out")
    _run("-m", "pipelines.build", "r2n2", "--renderings", renderings, "--voxels", voxels, "--out", out,
         "--split-file", str(tmp_path / "split.txt"), "--workers", "2", "--quiet")
    info = records.read_info(out)
    assert info["num_records"] == 5 and info["categories"] == {"chair": 3, "table": 2}
    assert info["num_skipped"] == 1 and "empty" in str(info["skipped"])
    assert info["viewpoints"] is None and info["num_views"] == 4 and info["image_size"] == 137
    from tests.test_tfds_info import assert_tfds_matches

    assert_tfds_matches(out)  # TFDS loads an R2N2 build too (4 views of 137 px)
    assert check_verify_and_train(out, str(tmp_path / "run"), min_iou=0.99) >= 0.99


@needs_sample
@pytest.mark.slow
def test_r2n2_command_on_the_real_sample(tmp_path):
    from tests.test_shapenet import _run

    out = str(tmp_path / "out")
    _run("-m", "pipelines.build", "r2n2", "--renderings", os.path.join(SAMPLE, "ShapeNetRendering"),
         "--voxels", os.path.join(SAMPLE, "ShapeNetVox32"), "--synsets", "03001627", "--out", out,
         "--workers", "2", "--quiet")
    assert records.read_info(out)["num_records"] == 6
    printed = _run("-m", "pipelines.verify", out, "--alignment")
    line = [l for l in printed.splitlines() if l.startswith("alignment mean IoU")][0]
    assert float(line.split("=")[1].split(",")[0]) >= 0.85, printed
    assert "(144 views)" in printed
