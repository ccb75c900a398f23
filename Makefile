# Everything runs inside a project-local virtual environment (.venv), created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= separated

.DEFAULT_GOAL := help
.PHONY: help demo test docs lint format samples figures bench bench-quality bench-scoring bench-tools clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall only when pyproject.toml changes (the install is editable).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed  ## Install, then separate the bundled sample into separated/
	$(BIN)/repet separate sample_audio/*.wav --out $(OUT) --overwrite

test: $(VENV)/.installed-dev  ## Install the dev extras, then run the whole test suite
	$(BIN)/python -m pytest

docs: $(VENV)/.installed-docs  ## Build the documentation site into build/site (strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(VENV)/.installed-dev  ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

samples: $(VENV)/.installed  ## Regenerate sample_audio/loop_and_melody.wav
	$(BIN)/python sample_audio/make_sample.py

bench: $(VENV)/.installed-dev  ## Speed and memory of whole runs -> benchmarks/results/speed.md; planning 10^6 inputs; a batch of 10^6 names
	$(BIN)/python benchmarks/speed.py --hour
	$(BIN)/python benchmarks/plan_many.py --count 1000000
	$(BIN)/python benchmarks/many_names.py --count 1000000

figures: $(VENV)/.installed-dev  ## Redraw the README's figure of the bundled sample
	$(BIN)/python sample_audio/make_figure.py

bench-quality: $(VENV)/.installed-dev  ## Quality on the clips, full songs and synthetic set -> benchmarks/results/
	$(BIN)/python benchmarks/quality.py

bench-scoring: $(VENV)/.installed-dev  ## repet evaluate against mir_eval and museval -> benchmarks/results/scoring.md
	$(BIN)/python benchmarks/check_scorer.py --mir-eval

bench-tools:  ## Debian packages the synthetic benchmark set is rendered with (run as root)
	apt-get update && apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm espeak-ng

clean:  ## Remove the virtual environment, caches, the built site and separated/
	rm -rf $(VENV) $(OUT) build .pytest_cache .ruff_cache .hypothesis *.egg-info
