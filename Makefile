# Set-up and entry points. Both targets create .venv on first use and install
# the pinned CPU torch FIRST, so that no dependency can resolve torch to a
# multi-GB CUDA build. Override the pin with e.g. `make test TORCH="torch==2.13.0"`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
TORCH ?= torch==2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pyg_spectral_installed

.PHONY: demo test install clean

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

clean:
	rm -rf $(VENV) build *.egg-info
