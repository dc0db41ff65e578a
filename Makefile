# tf3d: `make train` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Debian packages: open3d's wheel needs libusb; `blender` gives the binary for
# `blender --background -P blender/render_aligned.py` (its Python needs python3-numpy);
# g++ builds the custom ops.
APT_PACKAGES := libusb-1.0-0 blender python3-numpy g++
DATA_DIR ?= data/synthetic
RUN_DIR ?= runs/paired
WORKERS ?= $(shell nproc)

.PHONY: setup system-deps test data train clean-venv ops benchmarks bench-peers

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $@

test: setup
	$(PY) -m pytest -q -rs tests

data: setup
	$(PY) -m pipelines.build synthetic --out $(DATA_DIR) --workers $(WORKERS)

train: data
	$(PY) -m tf3d.train experiments/paired.yaml --set data.dir=$(DATA_DIR) --set run_dir=$(RUN_DIR)
	$(PY) -m tf3d.evaluate $(RUN_DIR) --split test

ops: setup
	$(PY) -m tf3d.ops build

benchmarks: setup
	$(PY) benchmarks/render_ops.py
	$(PY) benchmarks/mesh_fitting.py
	$(PY) benchmarks/chamfer.py
	$(PY) benchmarks/input_pipeline.py

# tf3d against PyTorch3D in one process. A separate venv, outside `make test`
# and `.venv`: PyTorch (the default PyPI build with its CUDA wheels, ~8 GB
# installed, run here on CPU) has no business in the main environment. tf3d
# goes in without extras (no Blender); TensorFlow and PyTorch share the
# process. Building tf3d's ops needs g++ (`make system-deps`).
PEERS_VENV ?= .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python

$(PEERS_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --upgrade pip
	$(PEERS_PY) -m pip install -q 'torch==2.11.*' 'easypytorch3d==0.7.9.post1' -e .
	touch $@

bench-peers: $(PEERS_VENV)/.installed
	$(PEERS_PY) benchmarks/vs_pytorch3d.py

clean-venv:
	rm -rf $(VENV) $(PEERS_VENV)
