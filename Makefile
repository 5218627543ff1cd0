# sihub — one target each for run, test, lint, bench.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SIHUB := $(VENV)/bin/sihub
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-dev install-llm-server web-assets system-ocr system-browser run test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0          # the CPU build; must come before sentence-transformers
	$(PIP) install -q -e .
	touch $@

# PDF.js (npm's pdfjs-dist, pinned in package-lock.json): the web page's viewer draws a cited PDF
# page with it, served by sihub itself. Without npm a PDF opens in the text view instead.
NPM ?= npm
node_modules/.installed: package.json package-lock.json
	@if command -v $(NPM) >/dev/null; then \
		$(NPM) ci --omit=optional --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@; \
	else echo "note: install npm (Node.js) so that cited PDF pages open in the viewer"; fi

web-assets: node_modules/.installed

install: $(VENV)/.installed web-assets   ## create .venv and install sihub (and PDF.js)

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev,milvus]'   # the Milvus backend's tests run on Milvus Lite
	touch $@

install-dev: $(VENV)/.installed-dev

# The LLM tests' real server: llama-cpp-python builds llama.cpp from source (about 10 minutes on
# two cores, once: pip's cache keeps the wheel). Portable (no -march=native: the cached wheel may
# run on another CPU of the same kind; AVX2/FMA stay on) and without the multimodal library
# the server does not need for text.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
$(VENV)/.installed-llm: $(VENV)/.installed-dev
	@echo "installing the LLM test server (the first time, llama.cpp builds from source: about 10 minutes)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q -e '.[llm-server]'
	touch $@

install-llm-server: $(VENV)/.installed-llm

# System packages (Debian): Tesseract for scanned PDFs, Chromium for browser tests.
# Installed with apt-get when missing and running as root; otherwise a hint is printed.
system-ocr:
	@command -v tesseract >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-swe tesseract-ocr-lav tesseract-ocr-fra tesseract-ocr-spa tesseract-ocr-eng >/dev/null; } || echo "note: install tesseract-ocr (+ -swe -lav -fra -spa -eng) to read scanned PDFs"; }
	@# A Unicode TTF for the PDF test fixtures (Latvian and Swedish diacritics).
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { [ "$$(id -u)" = 0 ] && { apt-get update -qq && apt-get install -y -qq fonts-dejavu-core >/dev/null; } || echo "note: install fonts-dejavu-core for the PDF fixture tests"; }

system-browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "note: install chromium to run the browser tests"; }

run: install system-ocr   ## ingest corpus/ (incrementally) and serve the web chat
	-$(SIHUB) ingest corpus/    # a file that fails is reported; the chat still starts
	$(SIHUB) serve

test: install-dev install-llm-server web-assets system-ocr system-browser   ## the whole test suite
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check sihub ingest index assistant tests bench
	$(VENV)/bin/ruff format --check sihub ingest index assistant tests bench

bench: install-dev   ## quality, ingest, latency and serve benchmarks (figures to bench/RESULTS.md)
	$(PY) bench/quality.py
	$(PY) bench/ingest.py
	$(PY) bench/latency.py
	$(PY) bench/serve.py

clean:
	rm -rf .sihub $(VENV) node_modules
