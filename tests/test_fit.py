"""End-to-end tests of `python -m tf3d.fit` (both modes, local configs), its config and `tf3d.sweep`."""

import json
import os

import numpy as np
import pytest
import yaml

from tf3d import fit, plots, runs, sweep
from tf3d.config import ConfigError
from tf3d.fitting import config as fit_config
from tf3d.fitting import target as target_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POINTS = os.path.join(REPO, "experiments", "fit_points_local.yaml")
SILHOUETTES = os.path.join(REPO, "experiments", "fit_silhouettes_local.yaml")
OUTPUTS = ("config.yaml", "fitted.obj", "target.obj", "strip.png", "fitted.png", "metrics.json")


def _one_error_line(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _fit(experiment, out_dir, *extra):
    argv = [experiment, "--no-progress", "--set", f"out_dir={out_dir}"]
    for override in extra:
        argv += ["--set", override]
    assert fit.main(argv) == 0
    for name in OUTPUTS:
        assert os.path.exists(os.path.join(out_dir, name)), name
    assert os.listdir(os.path.join(out_dir, "logs"))  # TensorBoard events
    with open(os.path.join(out_dir, "metrics.json")) as fh:
        return json.load(fh)


def _check_ranges(result):
    for scores in (result["initial"], result["final"]):
        assert scores["chamfer_l2"] >= 0
        for key in ("fscore_1", "fscore_2", "normal_consistency", "silhouette_iou"):
            assert 0.0 <= scores[key] <= 1.0, (key, scores[key])
    assert result["history"] and result["history"][-1]["step"] == result["steps"]


@pytest.mark.slow
def test_points_fit_writes_everything_and_beats_the_sphere(tmp_path, capsys):
    result = _fit(POINTS, str(tmp_path / "points"))
    _check_ranges(result)
    initial, final = result["initial"], result["final"]
    assert final["chamfer_l2"] < 0.5 * initial["chamfer_l2"]
    assert final["fscore_2"] > initial["fscore_2"] + 0.2
    assert final["silhouette_iou"] > initial["silhouette_iou"]
    out = capsys.readouterr().out
    assert "fscore_2" in out and "steps/s" in out
    history = result["history"]
    assert history[-1]["chamfer_l2"] < history[0]["chamfer_l2"]
    assert set(history[0]) >= {"loss", "chamfer", "edge", "normal", "laplacian", "quadric"}
    # The saved config is the resolved one and resolves again to itself.
    saved = fit_config.resolve(str(tmp_path / "points" / "config.yaml"))
    assert saved.out_dir == str(tmp_path / "points") and saved.level == 3


@pytest.mark.slow
def test_silhouette_fit_beats_the_sphere_on_held_out_views(tmp_path):
    result = _fit(SILHOUETTES, str(tmp_path / "silhouettes"))
    _check_ranges(result)
    # 60 steps of a level-2 sphere at 32 px (the sphere: IoU 0.50, chamfer 0.019; fitted: 0.55, 0.003)
    assert result["final"]["silhouette_iou"] > result["initial"]["silhouette_iou"] + 0.02
    assert result["final"]["chamfer_l2"] < 0.5 * result["initial"]["chamfer_l2"]
    assert "silhouette_iou" in result["history"][0] and "chamfer" not in result["history"][0]


@pytest.mark.parametrize("override, message", [
    ("losses.chamfr=1", "did you mean 'chamfer'"),
    ("mode=voxels", "mode must be one of"),
    ("target=synthetic:sofa:3", "synthetic:CATEGORY:SEED"),
    ("target=missing.obj", "no such file"),
    ("optimizer.name=adamx", "optimizer 'adamx'"),
    ("optimizer.kwargs.momentm=0.9", "momentm"),
    ("losses.silhouette_l2=1", "does not apply to mode 'points'"),
    ("losses={chamfer: 0, quadric: 0}", "nothing would pull"),
    ("radius=0.7", "radius must be below 0.5"),
    ("optimizer.schedule=linear", "optimizer.schedule"),
])
def test_config_errors_are_one_line_and_write_nothing(tmp_path, capsys, override, message):
    out_dir = tmp_path / "never"
    assert fit.main([POINTS, "--set", f"out_dir={out_dir}", "--set", override]) == 1
    assert message in _one_error_line(capsys.readouterr().err)
    assert not out_dir.exists()


def test_optimizer_kwargs_merge_and_reset_with_a_new_name():
    cfg = fit_config.resolve(POINTS, ["optimizer={name: sgd, learning_rate: 0.5, kwargs: {momentum: 0.9}}",
                                      "optimizer.kwargs.nesterov=true"])
    assert cfg.optimizer.kwargs == {"momentum": 0.9, "nesterov": True}
    assert type(fit_config.build_optimizer(cfg.optimizer)).__name__ == "SGD"
    cfg = fit_config.resolve(POINTS, ["optimizer={name: sgd, kwargs: {momentum: 0.9}}", "optimizer.name=rmsprop"])
    assert cfg.optimizer.kwargs == {}


def test_cosine_schedule_decays_over_the_fit_steps():
    cfg = fit_config.resolve(POINTS, ["optimizer={name: sgd, learning_rate: 0.5, schedule: cosine, "
                                      "kwargs: {momentum: 0.9}}"])
    optimizer = fit_config.build_optimizer(cfg.optimizer, steps=100)
    assert type(optimizer).__name__ == "SGD" and optimizer.get_config()["momentum"] == 0.9
    rates = []
    for step in (0, 50, 100):
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    np.testing.assert_allclose(rates, [0.5, 0.25, 0.0], atol=1e-6)
    constant = fit_config.build_optimizer(fit_config.resolve(POINTS).optimizer, steps=100)
    constant.iterations.assign(100)
    assert float(constant.learning_rate) == pytest.approx(fit_config.resolve(POINTS).optimizer.learning_rate)


def test_a_mesh_file_target_is_normalized(tmp_path):
    from pipelines import meshes
    from tf3d.ops import primitives

    vertices, faces = primitives.box(3.0)
    path = str(tmp_path / "box.obj")
    meshes.save_obj(path, vertices + 10.0, faces)
    target = target_lib.load_target(path)
    assert target.name == "box" and len(target.faces) == 12
    np.testing.assert_allclose(target.vertices.max(axis=0) + target.vertices.min(axis=0), 0.0, atol=1e-9)
    assert abs(np.ptp(target.vertices[:, 1]) - 0.98 / np.sqrt(2)) < 1e-6  # the footprint decides


def test_view_layouts():
    cfg = fit_config.FitConfig()
    rings = target_lib.fit_views(cfg.views)
    assert [r.num_views for r in rings] == [10, 10]
    assert [r.elevation for r in rings] == cfg.views.elevations
    held = target_lib.held_out_views(cfg.views)
    fitted = {(r.elevation, a) for r in rings for a in r.azimuths}
    assert not fitted & {(held.elevation, a) for a in held.azimuths}
    odd = fit_config.resolve(None, ["views.count=5"]).views
    assert [r.num_views for r in target_lib.fit_views(odd)] == [3, 2]
    dataset = fit_config.resolve(None, ["views.layout=dataset", "views.image_size=32"]).views
    (views,) = target_lib.fit_views(dataset)
    assert views.num_views == 8 and views.elevation == 30.0 and views.image_size == 32
    assert target_lib.projections(rings).shape == (20, 3, 4)


def fake_entry(experiment, overrides):
    """A sweep entry point: a 'metric' that depends on the overrides, with a history."""
    values = dict(o.split("=", 1) for o in overrides)
    score = float(values["a"]) * 10 + float(values["b"])
    os.makedirs(values["out"], exist_ok=True)
    plots.save_png(os.path.join(values["out"], "pic.png"), np.full((8, 8), int(score) % 255, np.uint8))
    return {"final": {"score": score}, "history": [{"step": s, "loss": score / (s + 1)} for s in range(3)]}


def test_sweep_runs_the_grid_summarizes_and_resumes(tmp_path):
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump({
        "entry": "test_fit:fake_entry", "experiment": "unused.yaml", "out_key": "out",
        "out_dir": str(tmp_path / "sweep"), "base": ["c=0"],
        "axes": {"a": {"one": ["a=1"], "two": ["a=2"]}, "b": {"x": ["b=1"], "y": ["b=3"]}},
        "summary": {"over": "b", "metrics": ["final.score"], "picture": "pic.png",
                    "curves": {"y": "loss"}}}))
    spec = sweep.load_spec(str(spec_path))
    assert [sweep.run_name(labels) for labels, _ in sweep.grid(spec)] == ["one__x", "one__y", "two__x", "two__y"]
    assert sweep.main([str(spec_path)]) == 0
    table = json.load(open(tmp_path / "sweep" / "summary.json"))
    assert table["one"]["final.score"] == {"mean": 12.0, "std": 1.0, "n": 2}
    assert table["two"]["final.score"]["mean"] == 22.0
    assert "| one | 12 ± 1 |" in open(tmp_path / "sweep" / "summary.md").read()
    for name in ("grid.png", "curves.png"):
        assert os.path.getsize(tmp_path / "sweep" / name) > 0
    # A second run finds every result and runs nothing.
    assert len(sweep.run_sweep(dict(spec, entry="no.such:entry"), log=pytest.fail)) == 4


def test_a_fit_that_blows_up_stops_as_diverged(tmp_path, capsys):
    argv = [POINTS, "--no-progress", "--set", f"out_dir={tmp_path / 'blown'}", "--set", "steps=5",
            "--set", "log_every=1", "--set", "optimizer={name: sgd, learning_rate: 1.0e+4}"]
    assert fit.main(argv) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "lower optimizer.learning_rate (10000)" in line and "step 1" in line


def diverging_entry(experiment, overrides):
    """`fake_entry`, except that a = 2 with b = 3 diverges."""
    values = dict(o.split("=", 1) for o in overrides)
    if values["a"] == "2" and values["b"] == "3":
        raise runs.Diverged("the loss became nan at step 2")
    return fake_entry(experiment, overrides)


def test_sweep_records_a_diverged_run_and_goes_on(tmp_path):
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump({
        "entry": "test_fit:diverging_entry", "experiment": "unused.yaml", "out_key": "out",
        "out_dir": str(tmp_path / "sweep"),
        "axes": {"a": {"one": ["a=1"], "two": ["a=2"]}, "b": {"x": ["b=1"], "y": ["b=3"]}},
        "summary": {"over": "b", "metrics": ["final.score"], "picture": "pic.png",
                    "curves": {"y": "loss"}}}))
    logged = []
    results = sweep.run_sweep(sweep.load_spec(str(spec_path)), log=logged.append)
    assert [r["result"] is None for r in results] == [False, False, False, True]
    assert any("diverged: the loss became nan" in line for line in logged)
    assert sweep.main([str(spec_path)]) == 0  # resumes: the diverged run is not tried again
    table = json.load(open(tmp_path / "sweep" / "summary.json"))
    assert table["two"]["final.score"] == {"mean": 21.0, "std": 0.0, "n": 1}
    assert table["two"]["diverged"] == 1 and table["one"]["diverged"] == 0
    markdown = open(tmp_path / "sweep" / "summary.md").read()
    assert "| two | 21 ± 0 | 1/2 |" in markdown and "did not diverge" in markdown


def test_sweep_spec_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"entry": "tf3d.fitting.run:fit_experiment", "experiment": "x",
                                    "out_key": "out_dir", "out_dir": "y", "axes": {"a": {"l": ["k=1"]}},
                                    "summary": {"over": "b"}}))
    assert sweep.main([str(path)]) == 1
    assert "summary.over='b' is not an axis" in _one_error_line(capsys.readouterr().err)
