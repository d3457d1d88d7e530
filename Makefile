# Two commands do all set-up on a fresh machine:
#   make reproduce   the whole compendium on the embedded corpus, CPU profile
#   make test        the test suite
# Both create .venv on first use; later calls only check a stamp file.

PYTHON ?= python3
VENV   ?= .venv
PROFILE ?= cpu
# The CPU build of torch. A GPU user installs the CUDA build into .venv first (README, "GPUs"),
# or overrides this: make TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" venv
TORCH_VERSION ?= 2.13.0
TORCH  ?= torch==$(TORCH_VERSION)
# Every other package at the exact version and hash in this lock (CPython 3.11, Linux x86-64; `make lock`
# refreshes it). LOCK= (empty) installs from pyproject.toml's lower bounds instead, e.g. on another platform.
LOCK   ?= requirements.lock
EXTRAS  = dev,lab,fasttext,site
comma  := ,
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.bimix-installed
# uv (pinned) installs the lock and refreshes it; it lives in a throwaway venv, never in the project's
# environment. UV= (empty) installs the lock with pip instead.
UV_VERSION ?= 0.13.9
LOCK_TOOL  = build/lock-tool
UV        ?= $(LOCK_TOOL)/bin/uv

.PHONY: venv lock reproduce reproduce-all figures test lab site site-check executed clean-build help

help:
	@echo "make reproduce  run every notebook on PROFILE=$(PROFILE) (default: cpu) into build/"
	@echo "make reproduce-all  retrain every run into build/PROFILE-scratch and compare with the committed table"
	@echo "make figures    fast path: refit and redraw from committed run tables, no training"
	@echo "make test       run the test suite"
	@echo "make lock       re-resolve $(LOCK) (exact versions with hashes) from pyproject.toml"
	@echo "make lab        open JupyterLab in the project's environment"
	@echo "make site       HTML pages of PROFILE's executed notebooks, docs/*.md, data/README.md + index in build/site/"
	@echo "make site-check the same, then every page rendered and checked in headless Chromium"
	@echo "make executed   refresh docs/executed/PROFILE/ from build/PROFILE/notebooks (else re-strip it), then make site"

# pip byte-compiles every installed module on one core (half of the install's time here, 172 s ->
# 86 s measured); it installs with --no-compile, and Python compiles what is imported, once, on first
# import. That cache matters (every test, notebook kernel and sweep worker imports torch): where the
# environment sets PYTHONDONTWRITEBYTECODE nothing would ever be cached, so make's commands unset it.
export PYTHONDONTWRITEBYTECODE :=
# torch comes from pip, which reads the machine's pip configuration (where its CPU build may lie on
# disk). The lock's 191 packages come from uv: pip fetches them one after another and spent ~55 s of
# its ~75 s here waiting on the index for each; uv fetches them in parallel (8 s, cold uv cache, same
# hashes checked). It installs without byte-compiling, as pip did with --no-compile.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet --no-compile $(TORCH)
ifeq ($(strip $(LOCK)),)
	$(PY) -m pip install --quiet --no-compile -e ".[$(EXTRAS)]"
else ifeq ($(strip $(UV)),)
	$(PY) -m pip install --quiet --no-compile --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-compile --no-deps -e .
else
	@test -x $(UV) || { $(PYTHON) -m venv $(LOCK_TOOL) && \
		$(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION); }
	$(UV) pip install --quiet --python $(PY) --require-hashes --no-deps -r $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
endif
	@echo "$(LOCK)" > $(STAMP)

# torch (installed first, from TORCH) and the CUDA-only packages its PyPI build pulls are left out of
# the lock: the CPU build needs none of them, and a GPU user's CUDA build brings its own.
lock:
	@test -x $(LOCK_TOOL)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOL) && \
		$(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION); }
	@mkdir -p build && echo "torch==$(TORCH_VERSION)" > build/lock-constraints.txt
	$(LOCK_TOOL)/bin/uv pip compile pyproject.toml $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) \
		--constraint build/lock-constraints.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
		--upgrade --quiet --output-file build/lock-full.txt
	awk '/^[a-z0-9]/ {skip = ($$0 ~ /^(torch|triton|nvidia-|cuda-)/)} !skip' build/lock-full.txt > $(LOCK)

venv: $(STAMP)

reproduce: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE)
	$(PY) -m bimix report --profiles cpu,gpu --update-readme

reproduce-all: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE) --from-scratch

figures: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE) --fast
	$(PY) -m bimix report --profiles cpu,gpu --update-readme

# the modules every test process imports, compiled once before the two workers start (else both
# compile them at once, and so does every subprocess started before either has finished)
test: $(STAMP)
	@$(PY) -c "import bimix.cli, bimix.train.proxy, bimix.law.forms, bimix.compendium.plots, papermill, nbconvert, lm_eval"
	$(PY) -m pytest -q -n 2

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# No training and no execution: the pages come from build/PROFILE/notebooks (else docs/executed/PROFILE).
site: $(STAMP)
	$(PY) -m bimix site --profile $(PROFILE)

site-check: $(STAMP)
	$(PY) -m bimix site --profile $(PROFILE) --check

executed: $(STAMP)
	$(PY) -m bimix site --profile $(PROFILE) --refresh-executed

clean-build:
	rm -rf build/
