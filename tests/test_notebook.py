"""`notebooks/colab_train.ipynb` runs top to bottom outside Colab (what CI does).

A local folder stands in for Google Drive and tiny settings are injected as
parameters, papermill's way: a cell after the one tagged `parameters`. The
"local build" the notebook makes when Drive holds no shards is the session's
tiny synthetic build (`synthetic_dataset`, copied: the notebook's build
command finds its shards finished and only writes the metadata), then copied
to "Drive" by the notebook as a user's would be.
"""

import os
import shutil

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, "notebooks", "colab_train.ipynb")


def _inject(notebook, parameters):
    import nbformat

    index = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, cell)
    return notebook


def _text(cell):
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


@pytest.mark.slow
def test_notebook_trains_evaluates_and_predicts_with_a_folder_for_drive(synthetic_dataset, tmp_path):
    import nbclient
    import nbformat

    drive = tmp_path / "drive"
    local_build = str(tmp_path / "local-build")
    shutil.copytree(synthetic_dataset, local_build)
    notebook = _inject(nbformat.read(NOTEBOOK, as_version=4), {
        "WORK": str(drive / "MyDrive" / "tf3d"), "LOCAL_BUILD": local_build,
        "BUILD_ARGS": ["--num-chairs", "6", "--num-tables", "6", "--seed", "1", "--workers", "1"],
        "EXPERIMENT": "experiments/paired_local.yaml", "OVERRIDES": ["train.epochs=1"],
        "REPO_DIR": REPO, "TENSORBOARD": False})
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": REPO}}).execute()
    outputs = [_text(c) for c in notebook.cells if c.cell_type == "code"]
    printed = "\n".join(outputs)
    metrics = next(o for o in outputs if "category mean" in o)
    assert "IoU@0.4" in metrics and "overall" in metrics, metrics
    work = drive / "MyDrive" / "tf3d"
    assert (work / "data" / "synthetic" / "tf3d_info.json").exists()
    assert (work / "runs" / "paired" / "checkpoints" / "best.keras").exists()
    assert (work / "predictions" / "upload.obj").exists() and (work / "predictions" / "upload.png").exists()
    assert "copied" in printed and "not on Colab" in printed

    # A new session (the data now in "Drive") runs the same cells: the finished run is reported.
    again = _inject(nbformat.read(NOTEBOOK, as_version=4), {
        "WORK": str(work), "EXPERIMENT": "experiments/paired_local.yaml", "OVERRIDES": ["train.epochs=1"],
        "REPO_DIR": REPO, "TENSORBOARD": False, "BUILD_IF_MISSING": False})
    nbclient.NotebookClient(again, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": REPO}}).execute()
    assert "already holds a finished run" in "\n".join(_text(c) for c in again.cells if c.cell_type == "code")
