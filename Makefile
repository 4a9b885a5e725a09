# Two entry points, as in the README: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/assistant: pyproject.toml assistant/llama_build.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build 2.13.0 is served locally; anything
	# unpinned pulls a newer CUDA build of several GB.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python next, compiled for this CPU with the flags in
	# assistant/llama_build.py, never from pip's wheel cache (which ignores flags).
	$(BIN)/python assistant/llama_build.py install
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/assistant

demo: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant ask "Which papers propose alternatives to batch normalization for NLP models?"

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check assistant tests benchmarks
	$(BIN)/ruff format --check assistant tests benchmarks
	$(BIN)/mypy --strict

bench: setup
	$(BIN)/assistant eval ../shared/eval/seed_questions_dev.jsonl
	$(BIN)/assistant eval ../shared/bench/scifact --split train
	$(BIN)/python benchmarks/retrieval_variants.py
	$(BIN)/python benchmarks/timings.py
	$(BIN)/python benchmarks/speed.py --bench ../shared/bench/scifact --runs 5 --also-encoders onnx-fp32
	nice -n 19 $(BIN)/python benchmarks/scaling.py --sizes 10000,100000,1000000

clean:
	rm -rf $(VENV) .assistant-home .wheels
