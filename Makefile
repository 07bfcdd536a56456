# prodemb: two commands. `make run` opens the app on the shipped demo bundle;
# `make test` runs the test suite. Both set up .venv first (idempotent, quick when done).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.prodemb-installed
PORT   ?= 8501
# Some shells and CI images set PYTHONDONTWRITEBYTECODE=1 (this sandbox does): every process
# then compiles again every module it imports, and a process that imports torch, pandas,
# streamlit and plotly starts in about twice the time. With pip's --no-compile below, the
# bytecode is written on first import, by these commands, for the modules actually used.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup run test test-fast lint bench demo-artifacts demo-data screenshots clean browser

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-scale.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --no-compile -r requirements.txt -r requirements-dev.txt -r requirements-scale.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-compile --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Two malloc arenas: see prodemb/serving.py (bounded_allocators) for why.
run: setup
	MALLOC_ARENA_MAX=2 $(VENV)/bin/streamlit run app.py --server.port $(PORT)

# The 21 browser tests (much of their time is waiting on Chromium and the app server) run
# beside all the others, which pytest-xdist spreads over two workers, a test file per
# worker at a time (--dist loadfile: a file's fixtures are made once); each run has its
# own temp folder, and the browser run's output is printed after the other's. One process
# took 11.5 minutes here. pip's --no-compile (setup): Python compiles only the modules
# that are imported, on first import, instead of all 16,700 files of the venv.
test: setup
	@$(PY) -m pytest -m browser -p no:cacheprovider --basetemp=/tmp/prodemb-pytest-browser \
		> /tmp/prodemb-browser-tests.log 2>&1 & browser_pid=$$!; \
	$(PY) -m pytest -m "not browser" -n 2 --dist loadfile --basetemp=/tmp/prodemb-pytest-rest; rest=$$?; \
	wait $$browser_pid; browser=$$?; \
	echo "=== browser tests (-m browser) ==="; cat /tmp/prodemb-browser-tests.log; \
	[ $$rest -eq 0 ] && [ $$browser -eq 0 ]

test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

lint: setup
	$(VENV)/bin/ruff check prodemb pages app.py tests bench

# Chromium for the browser tests (Debian package; Playwright drives it, no browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

demo-data: setup
	$(VENV)/bin/prodemb demo-data --out data/demo.parquet

# Rebuild the shipped demo bundle from the default demo catalogue (see README for timing),
# with an index of all 300,000 products for the nearest-product search (IVF-SQ8: 41 MB,
# where HNSW over full vectors would take ~230 MB).
demo-artifacts: setup
	$(VENV)/bin/prodemb demo-data --out data/demo.parquet
	$(VENV)/bin/prodemb train --data data/demo.parquet --preset demo --out artifacts/demo --config configs/demo.json --force
	$(VENV)/bin/prodemb embed --bundle artifacts/demo --in data/demo.parquet --out data/demo-embeddings.parquet
	$(VENV)/bin/prodemb index --bundle artifacts/demo --embeddings data/demo-embeddings.parquet --kind ivfsq

bench: setup browser
	$(PY) bench/run_all.py

screenshots: setup browser
	$(PY) bench/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
