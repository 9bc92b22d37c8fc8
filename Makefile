# Set-up and entry points. Both targets create .venv on first use and install
# the pinned CPU torch FIRST, so that no dependency can resolve torch to a
# multi-GB CUDA build. Override the pin with e.g. `make test TORCH="torch==2.13.0"`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
TORCH ?= torch==2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pyg_spectral_installed

.PHONY: demo test test-fast test-extras install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pyg_spectral.demo

test: $(STAMP)
	$(PY) -m pytest

# Everything but the tests marked slow (accuracy runs on real graphs): a few minutes.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

# The compiled extras ([scatter], [sparse]) are source-only on PyPI: they build against the installed torch
# (no build isolation), ~7 min (torch-scatter) and ~20 min (torch-sparse) on 2 cores. They live in their own
# venv, and this target runs the tests whose code paths change with them (PyG's compiled neighbor sampler,
# PyG's scatter backend). A failed *build* is reported and skipped; a failed test fails the target.
EXTRAS_VENV ?= .venv-extras
EXTRAS_PY := $(EXTRAS_VENV)/bin/python
EXTRAS_TESTS ?= tests/sampling tests/training tests/test_estimator_minibatch.py tests/operators

test-extras:
	test -x $(EXTRAS_PY) || $(PYTHON) -m venv $(EXTRAS_VENV)
	$(EXTRAS_PY) -m pip install "$(TORCH)"
	$(EXTRAS_PY) -m pip install -e ".[test]"
	@if $(EXTRAS_PY) -m pip install --no-build-isolation "torch-scatter>=2.1" "torch-sparse>=0.6.18"; then \
		$(EXTRAS_PY) -c "import torch_scatter, torch_sparse; from pyg_spectral.sampling import pyg_sampler_available; assert pyg_sampler_available(); print('extras: torch-scatter', torch_scatter.__version__, 'torch-sparse', torch_sparse.__version__)" && \
		$(EXTRAS_PY) -m pytest $(EXTRAS_TESTS); \
	else \
		echo "WARNING: building torch-scatter/torch-sparse failed; the compiled-backend tests did NOT run." >&2; \
	fi

clean:
	rm -rf $(VENV) $(EXTRAS_VENV) build *.egg-info
