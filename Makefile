# Two entry points for a fresh machine with Python 3.11:
#   make demo   -> creates .venv, installs motion4d (CPU torch), runs the main job
#   make test   -> creates .venv, installs motion4d[dev], runs the test suite offline
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLBACKEND := Agg
# torch/OpenMP threads spin-wait by default; on a shared or busy CPU that costs up to 8x (see docs/benchmarks.md)
export OMP_WAIT_POLICY := PASSIVE

.PHONY: venv demo test bench clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; run 'make PYTHON=python3 ...' with Python >= 3.10"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first, so nothing pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/motion4d demo --quick --out outputs/demo

test: venv
	# the browser tests drive Debian's chromium (Playwright cannot download its own here); they skip, saying
	# so, when it is missing and cannot be installed
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
		echo "note: chromium could not be installed; the browser tests will be skipped"
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: venv
	$(BIN)/python benchmarks/rasterize.py --quick

clean:
	rm -rf $(VENV) .cache outputs
