# The front door. Every target sets up .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BROWSER := $(VENV)/.chromium
BENCHKIT := $(VENV)/.bench
KAFKA  := $(VENV)/.kafka
JAVAC  := $(VENV)/.javac
VALIDATORS := deploy/validate/node_modules/.package-lock.json
PROMTOOL := $(VENV)/.promtool
DOCKIT := docs/contract/node_modules/.package-lock.json
A11Y   := tests/a11y/node_modules/.package-lock.json
OIDC   := tests/oidc/node_modules/.package-lock.json
SOFTHSM := $(VENV)/.softhsm
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test unit integration a11y lint schemas docs bench chaos profile stress clean lock

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The board's browser test drives Debian's chromium (no browser download at test time).
$(BROWSER):
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	command -v chromium >/dev/null
	touch $(BROWSER)

# KEKs on a PKCS#11 token (#46) are tested against Debian's SoftHSM 2 (a token per test,
# in its own directory: nothing is written outside it).
$(SOFTHSM):
	test -f /usr/lib/softhsm/libsofthsm2.so || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq softhsm2 >/dev/null; }
	test -f /usr/lib/softhsm/libsofthsm2.so
	touch $(SOFTHSM)

# The embedded Apache Kafka needs Java 17+ and Maven (Debian's packages when missing); its
# jars come from Maven Central through deploy/kafka/pom.xml, fetched once into ~/.m2.
$(KAFKA): deploy/kafka/pom.xml | $(STAMP)
	$(BIN)/python -m services.kafka.broker.toolchain 2>/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq default-jre-headless maven >/dev/null; }
	$(BIN)/python -m services.kafka.broker.toolchain
	touch $(KAFKA)

# The Java client test (tests/support/java/Publish.java) runs from source: it needs a JDK's
# compiler beside the runtime (Debian's default-jdk-headless where there is none).
$(JAVAC): | $(KAFKA)
	command -v javac >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq default-jdk-headless >/dev/null; }
	command -v javac >/dev/null
	touch $(JAVAC)

# The deployment files' validators from npm (deploy/validate: pinned package.json and lockfile);
# Debian's Node.js where there is none.
$(VALIDATORS): deploy/validate/package.json deploy/validate/package-lock.json
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error
	touch $(VALIDATORS)

# The board's accessibility check: axe-core and playwright-core from npm (tests/a11y: pinned
# package.json and lockfile), driving Debian's chromium.
$(A11Y): tests/a11y/package.json tests/a11y/package-lock.json | $(VALIDATORS)
	cd tests/a11y && npm ci --no-audit --no-fund --loglevel=error
	touch $(A11Y)

# A real OpenID provider for the board's sign-in tests (oidc-provider from npm, pinned)
$(OIDC): tests/oidc/package.json tests/oidc/package-lock.json | $(VALIDATORS)
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $(OIDC)

## make a11y [BOARD=http://127.0.0.1:6096/]: axe-core (WCAG 2.1 AA, Section 508), keyboard
## and live-region checks against a running board (from `make run`)
BOARD ?= http://127.0.0.1:6096/
a11y: $(BROWSER) $(A11Y)
	node tests/a11y/board.mjs $(BOARD)

## make run: embedded Apache Kafka + every service + the demo simulator, until Ctrl-C
## (where Java or Maven cannot be installed, `up` falls back to Tansu and says so)
run: $(STAMP)
	-@$(MAKE) --no-print-directory $(KAFKA)
	$(BIN)/releasewatch up --demo

## make test [TEST_WORKERS=2]: the whole suite (unit + integration on the embedded Apache
## Kafka), one test file at a time on each of TEST_WORKERS workers, each with its own broker
TEST_WORKERS ?= 2
test: $(STAMP) $(BROWSER) $(KAFKA) $(JAVAC) $(VALIDATORS) $(PROMTOOL) $(A11Y) $(OIDC) $(SOFTHSM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

unit: $(STAMP) $(VALIDATORS) $(PROMTOOL) $(SOFTHSM)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) $(BROWSER) $(KAFKA) $(JAVAC) $(A11Y) $(OIDC) $(PROMTOOL) $(SOFTHSM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/integration

lint: $(STAMP)
	$(BIN)/ruff check services schemas tests bench
	$(BIN)/ruff format --check services schemas tests bench
	$(BIN)/mypy

# promtool (and prometheus) from Debian, for the alerting rules' unit tests.
$(PROMTOOL): | $(STAMP)
	command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null; }
	touch $(PROMTOOL)

# AsyncAPI's generator and html-template from npm (pinned, with a lockfile); puppeteer's
# Chrome download is skipped: the HTML needs no browser to be written.
$(DOCKIT): docs/contract/package.json docs/contract/package-lock.json
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd docs/contract && PUPPETEER_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error
	touch $(DOCKIT)

## make docs: the contract as HTML, offline, in build/docs (open build/docs/index.html): the
## AsyncAPI document by AsyncAPI's html-template, the topics table and the policy-file
## reference from the registry and the policy model
docs: $(STAMP) $(DOCKIT)
	$(BIN)/python -m schemas.generate --check
	node docs/contract/render.mjs schemas/generated/asyncapi.json build/docs/contract
	$(BIN)/python -m services.cli.reference build/docs

## make schemas: regenerate JSON Schema + AsyncAPI from the pydantic models
schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

$(BENCHKIT): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(BENCHKIT)

## make bench: benchmarks that print figures and ratios to an in-process baseline, and
## write bench/results/*.json and *.png
bench: $(BENCHKIT) $(KAFKA)
	$(BIN)/python -m bench

## make chaos: kill -9 random workers during a 50,000-event replay; check nothing is lost
## (MODE=brokers: kill brokers of a three-node cluster instead; GUARANTEE=exactly_once;
## IDEMPOTENCE=false|true: producers not idempotent, or idempotent; unset: as shipped, on;
## WEBHOOK=1: dhs-ice also told by webhook, its endpoint down the first minute)
chaos: $(STAMP) $(KAFKA)
	CHAOS_MODE=$(MODE) CHAOS_GUARANTEE=$(GUARANTEE) CHAOS_IDEMPOTENCE=$(IDEMPOTENCE) CHAOS_WEBHOOK=$(WEBHOOK) $(BIN)/python -m bench.chaos

## make profile: py-spy on one worker working off a backlog (top functions, flame graph;
## SERVICE=booking|scheduling|notification, booking unless set)
SERVICE ?= booking
profile: $(BENCHKIT) $(KAFKA)
	$(BIN)/python -m bench.tools.profile_worker $(SERVICE) 40000

## make stress: restart a booking worker 16 times on a backlog; report any lost event
stress: $(STAMP) $(KAFKA)
	$(BIN)/python bench/tools/restart_stress.py 16

## make lock: re-pin constraints.txt from a clean resolve (run after changing pyproject)
lock:
	rm -rf /tmp/releasewatch-lock && $(PYTHON) -m venv /tmp/releasewatch-lock
	/tmp/releasewatch-lock/bin/pip install --quiet '.[dev,bench]'
	/tmp/releasewatch-lock/bin/pip freeze --exclude releasewatch > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
