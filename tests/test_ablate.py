"""Tests of tf3d.ablate on the paired task's local config (a tiny box dataset)."""

import csv
import os

import pytest

from conftest import write_box_dataset
from tf3d import ablate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vary_arguments_are_parsed_and_checked():
    assert ablate.parse_vary(["task.mode=learned, render", "task.model.spectral_norm=false,true"]) == {
        "task.mode": ["learned", "render"], "task.model.spectral_norm": ["false", "true"]}
    for bad, message in ((["task.mode"], "KEY=V1,V2"), (["a=1", "a=2"], "twice"), ([], "at least one")):
        with pytest.raises(ValueError, match=message):
            ablate.parse_vary(bad)


def test_an_invalid_variant_fails_before_anything_trains(tmp_path):
    from tf3d.config import ConfigError

    with pytest.raises(ConfigError, match="task.model.norm"):
        ablate.build_spec(os.path.join(REPO, "experiments/paired_local.yaml"), {"task.model.norm": ["batch", "bogus"]},
                          2, str(tmp_path))


@pytest.mark.slow
def test_ablation_writes_csv_table_and_curves_and_resumes(tmp_path):
    data = write_box_dataset(str(tmp_path / "boxes"), per_category=(("chair", 2), ("table", 2)))
    out = str(tmp_path / "ablation")
    args = (os.path.join(REPO, "experiments/paired_local.yaml"), {"task.model.latent_dim": ["8", "16"]}, 2, out,
            [f"data.dir={data}", "train.epochs=2", "train.steps_per_epoch=1", "train.val_batches=1"])
    logged = []
    markdown, written = ablate.ablate(*args, log=logged.append)
    assert len(logged) == 4  # two variants x two seeds
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert [(r["task.model.latent_dim"], r["seed"]) for r in rows] == [("8", "0"), ("8", "1"), ("16", "0"), ("16", "1")]
    assert all(0 <= float(r["best"]) <= 1 and r["diverged"] == "" for r in rows)
    lines = markdown.splitlines()
    assert lines[0] == "| task.model.latent_dim | best | val_iou_0.4 |"
    assert lines[2].startswith("| 8 | ") and " ± " in lines[2] and "2 values of seed" in markdown
    assert os.path.join(out, "curves.png") in written and os.path.getsize(os.path.join(out, "curves.png")) > 0
    history = ablate._read_history(__import__("tf3d.runs", fromlist=["RunDir"]).RunDir(
        os.path.join(out, "runs", "8__seed0")))
    assert [h["epoch"] for h in history] == [1, 2] and "val_iou_0.4" in history[0]
    logged.clear()
    assert ablate.ablate(*args, log=logged.append)[0] == markdown and not logged  # nothing trained again


@pytest.mark.slow
def test_an_unpaired_ablation_runs_both_spectral_norm_variants(tmp_path):
    # The ablation on the cyclegan task's local variant: both variants train, none diverges,
    # and each run's saved config carries its value.
    from tf3d import config

    data = write_box_dataset(str(tmp_path / "boxes"), per_category=(("chair", 6), ("table", 6)))
    out = str(tmp_path / "ablation")
    markdown, _ = ablate.ablate(os.path.join(REPO, "experiments/cyclegan_ablation_local.yaml"),
                                {"task.model.spectral_norm": ["false", "true"]}, 1, out, [f"data.dir={data}"],
                                log=lambda *_: None)
    rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert [r["task.model.spectral_norm"] for r in rows] == ["false", "true"]
    assert all(r["diverged"] == "" and 0 <= float(r["best"]) <= 1 for r in rows)
    for row in rows:
        saved = config.load(os.path.join(out, "runs", f"{row['task.model.spectral_norm']}__seed0"))
        assert saved.task.model.spectral_norm == (row["task.model.spectral_norm"] == "true")
