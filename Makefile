# make install: system packages (when missing), .venv, relax installed editable with test extras.
# make run: a guided session of ROUTINE.  make test: Chromium for the page test too, then the whole suite,
# type check and lint.
# make fuzz: the routine fuzzer for FUZZ_SECONDS on FUZZ_WORKERS processes; new failures go to tests/corpus/fuzz.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTHON ?= python3
ROUTINE ?= back-pain-relief
# NEURAL=0 skips the optional Piper voice (GPL-3.0-or-later).
NEURAL ?= 1
COMMA := ,
# charts: matplotlib, for relax stats --png.
EXTRAS := test$(COMMA)charts$(if $(filter 1,$(NEURAL)),$(COMMA)neural)
SYSTEM_PACKAGES := espeak-ng libespeak-ng1 pulseaudio pulseaudio-utils libasound2-plugins libasound2-dev gcc ffmpeg
# Only the tests need these: the session page is opened in Debian's Chromium, driven by Playwright.
TEST_SYSTEM_PACKAGES := chromium
export RELAX_CACHE_DIR ?= $(CURDIR)/audio_cache
FUZZ_SECONDS ?= 600
FUZZ_WORKERS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)

.PHONY: install run test system test-system lint typecheck bench fuzz clean

install: system $(STAMP)

# $(call apt_install,PACKAGES): install the Debian packages that are missing (as root), or say how.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Missing system packages. Run:  sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi
endef

system:
	$(call apt_install,$(SYSTEM_PACKAGES))

test-system:
	$(call apt_install,$(TEST_SYSTEM_PACKAGES))

# The bench extra (pocketsphinx for bench/wer.py), on top of the installed venv.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS),bench]'
	touch $(BENCH_STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

run: install
	$(BIN)/relax play $(ROUTINE)

test: install test-system
	$(BIN)/pytest -q
	$(BIN)/mypy relax
	$(BIN)/flake8 relax tests bench

bench: install $(BENCH_STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The fuzz script makes its own private HOME and relax folders; RELAX_CACHE_DIR above does not reach it.
fuzz: install
	$(BIN)/python tests/fuzz.py --seconds $(FUZZ_SECONDS) --workers $(FUZZ_WORKERS)

clean:
	rm -rf $(VENV) build *.egg-info
