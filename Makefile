# Two commands do all set-up on a fresh machine:
#   make reproduce   the whole compendium on the embedded corpus, CPU profile
#   make test        the test suite
# Both create .venv on first use; later calls only check a stamp file.

PYTHON ?= python3
VENV   ?= .venv
PROFILE ?= cpu
# The CPU build of torch. A GPU user installs the CUDA build into .venv first (README, "GPUs"),
# or overrides this: make TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" venv
TORCH  ?= torch==2.13.0
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.bimix-installed

.PHONY: venv reproduce reproduce-all figures test lab site site-check executed clean-build help

help:
	@echo "make reproduce  run every notebook on PROFILE=$(PROFILE) (default: cpu) into build/"
	@echo "make reproduce-all  retrain every run into build/PROFILE-scratch and compare with the committed table"
	@echo "make figures    fast path: refit and redraw from committed run tables, no training"
	@echo "make test       run the test suite"
	@echo "make lab        open JupyterLab in the project's environment"
	@echo "make site       HTML pages of PROFILE's executed notebooks + index (gallery, report) in build/site/"
	@echo "make site-check the same, then every page rendered and checked in headless Chromium"
	@echo "make executed   refresh docs/executed/PROFILE/ from build/PROFILE/notebooks (stripped), then make site"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev,lab,fasttext,site]"
	@touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE)
	$(PY) -m bimix report --profiles cpu,gpu --update-readme

reproduce-all: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE) --from-scratch

figures: $(STAMP)
	$(PY) -m bimix reproduce --profile $(PROFILE) --fast
	$(PY) -m bimix report --profiles cpu,gpu --update-readme

test: $(STAMP)
	$(PY) -m pytest -q

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
