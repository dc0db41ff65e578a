"""Procedural chairs and tables: tf3d's built-in dataset for users without ShapeNet.

Families (`FAMILIES`; each a line in the README's contact sheet):

* chairs: dining (side chairs), bar chairs, stools, office (swivel) chairs,
  lounge chairs, armchairs, club chairs, wingbacks, recliners, rocking
  chairs, folding chairs, cantilever chairs, benches, Adirondack and
  slatted garden chairs;
* tables: dining, coffee, side, night tables, bar tables, desks (drawer
  pedestals, end panels), consoles, card tables and glass tops.

Every model is a triangle soup of closed convex primitives (`parts.Part`:
boxes, prisms and frustums, bevelled slabs, mitred segments of swept tubes
and curved panels) that overlap or touch where the real object's parts join,
so no boolean union is needed: the voxelizer flood-fills the outside of a
conservative surface voxelization, and every part being closed and every
joint overlapping is what makes that fill come out solid and in one piece.

Models are in metres in the world frame of `tf3d.conventions` (+Y up, +X the
object's right, +Z its front: a chair's seat faces +Z and its back is at -Z),
standing on the floor y = 0 and centred on x = z = 0; normalization into the
voxel cube happens later, like for ShapeNet meshes.

Thin parts are deliberate. Thicknesses are sampled in units of one voxel at
the default resolution: 1/32 of the size `conventions.normalization` scales
to 1 (the larger of the model's height and its footprint's diameter), so that
a good share of models has legs, tubes or slats at most one voxel thick: those
are the parts a 32^3 pipeline loses, and the dataset must exercise that
failure. That size depends on the model, which depends on the voxel, so
`sample_params` samples a model with a guessed voxel, measures the voxel its
parts give, and samples again from the same random state with that voxel
until the two agree.

Modules: `parts` (primitives), `params` (the typed parameters), `supports`,
`chairs`, `tables` (builders), `sampling` (families and their ranges).

Usage (a few ms per model, 36 to a few thousand faces):

    from pipelines import synthetic
    mesh = synthetic.generate("chair", seed=12)      # trimesh.Trimesh
    mesh = synthetic.generate("chair", seed=12, family="wingback")
    params = synthetic.sample_params("table", np.random.default_rng(3))
    rows = synthetic.generate_to_dir("data/synthetic/meshes", 1000, 1000, seed=0)
    # rows: [("chair-00000", "chair", ".../chair/chair-00000.obj"), ...]
"""

import os

import numpy as np
import trimesh

from pipelines.synthetic.chairs import build_chair
from pipelines.synthetic.params import ChairParams, TableParams
from pipelines.synthetic.parts import Part
from pipelines.synthetic.sampling import CHAIR_FAMILIES, TABLE_FAMILIES, sample_family
from pipelines.synthetic.tables import build_table
from tf3d import conventions

__all__ = ["FAMILIES", "ChairParams", "TableParams", "Part", "build_mesh", "build_parts", "generate",
           "generate_to_dir", "generator_version", "model_seed", "sample_params", "write_mesh"]

FAMILIES = {"chair": tuple(CHAIR_FAMILIES), "table": tuple(TABLE_FAMILIES)}
_BUILDERS = {ChairParams: build_chair, TableParams: build_table}
# Voxel-sized parts barely move the footprint (a splayed foot, a back post's lean), so the voxel a
# model's parts give settles to round-off within two or three samplings; the cap only bounds the loop.
_VOXEL_PASSES = 6
_VOXEL_TOLERANCE = 1e-6  # relative: far below anything a size test or the grid can see


def generator_version():
    """A short hash naming this generator: same hash, same meshes for the same seeds.

    Caches of generated meshes (`pipelines.build`'s `OUT/meshes/<version>-seed<seed>/`)
    and build fingerprints are keyed by it. It hashes the package's sources
    rather than being a number bumped by hand, because a forgotten bump would
    silently reuse stale meshes, while a needless change (a comment edited)
    only regenerates meshes, which costs a few ms each. It also covers what
    the sampling depends on outside the package: the conventions it reads and
    NumPy's version (`Generator` streams may change between NumPy releases).
    """
    import hashlib

    digest = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(n for n in os.listdir(here) if n.endswith(".py")):
        digest.update(name.encode())
        with open(os.path.join(here, name), "rb") as fh:
            digest.update(fh.read())
    digest.update(repr((conventions.DEFAULT_RESOLUTION, tuple(conventions.CATEGORIES),
                        conventions.NORMALIZATION_VERSION, np.__version__)).encode())
    return digest.hexdigest()[:12]


def _check_category(category, family=None):
    if category not in FAMILIES:
        raise ValueError(f"category must be one of {sorted(FAMILIES)}, got {category!r}")
    if family is not None and family not in FAMILIES[category]:
        raise ValueError(f"family must be one of {FAMILIES[category]} for {category!r}, got {family!r}")


def _voxel_size(params):
    """One voxel of the default grid in metres, for the model `params` builds (`conventions.normalization`)."""
    vertices = np.concatenate([p.vertices for p in build_parts(params)])
    return 1.0 / (conventions.normalization(vertices)[0] * conventions.DEFAULT_RESOLUTION)


def sample_params(category, rng, family=None):
    """Random `ChairParams` or `TableParams` for `category` ('chair' or 'table') from a NumPy Generator.

    `family` (one of `FAMILIES[category]`) forces the family instead of
    drawing it by weight. Sizes drawn in voxels are voxels of the finished
    model once normalized (`conventions.normalization`): the model is sampled
    again from the same random state with the voxel size its previous sample
    measured until the two agree to `_VOXEL_TOLERANCE`. `rng` ends in the same
    state either way.
    """
    _check_category(category, family)
    start = rng.bit_generator.state
    voxel = _voxel_size(sample_family(category, rng, family=family))  # with the sampler's guess
    for _ in range(_VOXEL_PASSES):
        rng.bit_generator.state = start  # the same draws, so only voxel-sized fields change
        params = sample_family(category, rng, voxel, family)
        measured = _voxel_size(params)
        if abs(measured - voxel) <= _VOXEL_TOLERANCE * voxel:
            break
        voxel = measured
    return params


def build_parts(params):
    """The closed convex parts of a model: list of `Part` (vertices `[V, 3]`, faces `[F, 3]`)."""
    if type(params) not in _BUILDERS:
        raise ValueError(f"params must be a ChairParams or TableParams, got {type(params).__name__}")
    return _BUILDERS[type(params)](params)


def build_mesh(params):
    """One `trimesh.Trimesh` of all parts of a model (vertices not merged: each part stays closed)."""
    parts = build_parts(params)
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)])
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


def generate(category, seed, family=None):
    """The model of `category` (and `family`, if given) for integer `seed`: same seed, identical mesh."""
    return build_mesh(sample_params(category, np.random.default_rng(seed), family))


def model_seed(seed, category, index):
    """Seed of model `index` of `category` in a dataset of seed `seed`; independent of the dataset size."""
    _check_category(category)
    sequence = np.random.SeedSequence([int(seed), conventions.CATEGORIES.index(category), int(index)])
    return int(sequence.generate_state(1)[0])


def write_mesh(mesh, path):
    """Write `mesh` to `path` as OBJ or PLY (by extension), creating the parent folder."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".obj", ".ply"):
        raise ValueError(f"path must end in .obj or .ply, got {path!r}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if ext == ".obj":
        data = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_color=False,
                                               include_texture=False, header=None)
        with open(path, "w") as f:
            f.write(data)
    else:
        mesh.export(path, file_type="ply")


def generate_to_dir(out_dir, num_chairs, num_tables, seed=0, ext=".obj"):
    """Write `num_chairs` chairs and `num_tables` tables under `out_dir/<category>/<model_id><ext>`.

    Model ids are `chair-00012`-style and each model's seed depends only on
    (seed, category, index), so a larger dataset keeps the smaller one's models.

    Returns:
      list of (model_id, category, path).
    """
    if num_chairs < 0 or num_tables < 0:
        raise ValueError(f"num_chairs and num_tables must be >= 0, got {num_chairs}, {num_tables}")
    rows = []
    for category, count in (("chair", num_chairs), ("table", num_tables)):
        for index in range(count):
            model_id = f"{category}-{index:05d}"
            path = os.path.join(out_dir, category, model_id + ext)
            write_mesh(generate(category, model_seed(seed, category, index)), path)
            rows.append((model_id, category, path))
    return rows
