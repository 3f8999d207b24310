# pixel — two commands: `make run` and `make test`. See README.md.
export PATH := /usr/local/go/bin:$(PATH)
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 2s

.PHONY: run run-cluster test build assets deps lint unit fuzz test-faults test-scale screenshots bench bench-reports clean help

help:
	@echo "make run    the whole pipeline on this machine (Ctrl-C stops it)"
	@echo "make run-cluster  the scaled-out shape on this machine: 3 Apache Kafka brokers, ClickHouse 2 shards x 2 replicas, 2 collectors, 2 consumers"
	@echo "make test   every test against real servers (what CI runs)"
	@echo "make deps   install with apt-get what is missing: ClickHouse, kcat, Chromium, wrk, Node.js, npm, Java, Maven, ZooKeeper, python3-venv (root)"
	@echo "make build  build the console's front-end assets (npm) and the binaries into bin/"
	@echo "make lint   gofmt, go vet, staticcheck"
	@echo "make test-faults  only the fault-injection tests, printing their figures"
	@echo "make test-scale   only the faults at scale (TestScaleOut: the make run-cluster shape under load), printing their figures"
	@echo "make screenshots  the console's browser test, writing a PNG of each page into docs/screenshots/ (commit them)"
	@echo "make bench  benchmark against baselines of the same run, about 4½ minutes (BENCH_QUICK=true make bench: 1½), then the reports on 1 million events (about 30 s)"
	@echo "make bench-reports  every shipped report and audience on 10 million generated events, about 6 minutes"

# The Debian packages the project needs: ClickHouse (server and client),
# kcat, a Kafka client that is not ours, Chromium, the browser the JS
# tag's end-to-end test runs in, wrk, the HTTP load tool of make bench,
# Node.js, which runs the JS tag's and the snippets' unit tests, npm,
# which installs the console's charting library at build time (Debian's
# nodejs comes without it; NodeSource's bundles it, and then it is not
# installed twice), Java and Maven, which fetch and run Apache Kafka from
# Maven Central for the real-Kafka suites, ZooKeeper, which the ClickHouse
# cluster's replication needs, and Python's venv, in which the check of
# current ClickHouse installs chDB from PyPI. Installed only when missing.
deps:
	@missing=""; \
	command -v clickhouse-server >/dev/null 2>&1 || missing="$$missing clickhouse-server"; \
	command -v clickhouse-client >/dev/null 2>&1 || missing="$$missing clickhouse-client"; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v mvn >/dev/null 2>&1 || missing="$$missing maven"; \
	[ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: missing$$missing; run as root or: sudo apt-get install$$missing" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "make deps: missing$$missing and no apt-get; install them by hand" >&2; exit 1; }; \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || { echo "make deps: apt-get install$$missing failed" >&2; exit 1; }; \
	fi

build: assets
	$(GO) build -o bin/ ./cmd/...

# The console's front-end assets: the charting library from npm (the
# versions pinned in package-lock.json), copied by its vendor script into
# pkg/console/assets/vendor/, which the console embeds. npm ci runs only
# when node_modules is older than package.json or package-lock.json, so
# that make test does not install it again each time.
WEB := pkg/console/web
assets:
	@if [ -f $(WEB)/package.json ]; then \
	  command -v npm >/dev/null 2>&1 || { echo "make build: npm is missing; run make deps (as root: apt-get install npm)" >&2; exit 1; }; \
	  stamp=$(WEB)/node_modules/.package-lock.json; \
	  if [ ! -f $$stamp ] || [ $(WEB)/package-lock.json -nt $$stamp ] || [ $(WEB)/package.json -nt $$stamp ]; then \
	    echo "npm ci in $(WEB) (the console's charting library)"; \
	    out=$$(mktemp); \
	    if ! (cd $(WEB) && npm ci --no-audit --no-fund) >$$out 2>&1; then \
	      cat $$out >&2; \
	      if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network|proxy' $$out; then \
	        echo "make build: npm cannot reach its registry ($$(npm config get registry)); check the network, set a proxy (npm config set https-proxy URL) or a mirror (npm config set registry URL), then run make build again" >&2; \
	      else echo "make build: npm ci failed in $(WEB) (its output is above)" >&2; fi; \
	      rm -f $$out; exit 1; \
	    fi; \
	    rm -f $$out; \
	  fi; \
	  (cd $(WEB) && npm run --silent vendor) || { echo "make build: npm run vendor failed in $(WEB)" >&2; exit 1; }; \
	fi

run: deps build
	bin/devstack

run-cluster: deps build
	bin/devstack -cluster

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change: $$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Every package's tests but the scale-out suite, which test-scale runs
# alone: it starts three JVMs and five servers, and the other packages'
# tests beside it would only slow both.
unit:
	$(GO) test -count=1 -timeout 12m -skip '^TestScaleOut$$' ./...

# The scale-out suite: the shape of make run-cluster under load, one fault
# at a time, printing each fault's figures.
test-scale: deps
	$(GO) test -count=1 -timeout 12m -run '^TestScaleOut$$' -v ./pkg/apptest

# The fault-injection tests alone (make unit runs them too), with their figures.
test-faults: deps
	$(GO) test -count=1 -run TestFaults -v ./pkg/apptest

# The console's real-browser test, which also writes a PNG of each page
# (1280x800, and 390x844 for some) into docs/screenshots/; the README shows
# them. Commit what it wrote.
screenshots: deps build
	PIXEL_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run TestConsoleBrowser -v ./pkg/apptest
	@echo "make screenshots: PNGs in docs/screenshots/; git add docs/screenshots to commit them"

# The benchmark: our components against baselines measured in the same run
# (see README, Benchmarks). Results go to bench/results/<UTC timestamp>/.
bench: deps build
	$(GO) build -o bin/ ./bench/cmd/...
	bin/bench
	bin/benchreports -events $(BENCH_REPORTS_QUICK_EVENTS)

# The reports' speed: every query of schemas/queries/ and its audiences/ on
# 10 million events generated by pkg/dataset (BENCH_REPORTS_EVENTS to
# change), each run 5 times with max_memory_usage set, duration and peak
# memory from system.query_log. Results go to bench/results/<UTC timestamp>/;
# fails when a query fails or exceeds the memory limit.
# make bench runs it on 1 million events (about 30 s).
BENCH_REPORTS_QUICK_EVENTS ?= 1000000
bench-reports: deps
	$(GO) build -o bin/ ./bench/cmd/benchreports
	bin/benchreports

# Every fuzz target, each for a bounded time; in memory where possible (the
# spool's targets write files, and a busy disk starves them). Go 1.26's fuzz
# coordinator can end a run on a loaded machine with "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27): such a
# run is repeated once; a run that wrote a failing input always fails.
FUZZ_TMP := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    for try in 1 2; do \
	      echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	      if TMPDIR=$(FUZZ_TMP) $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >$$out 2>&1; then \
	        grep -v '^fuzz: elapsed' $$out || true; break; fi; \
	      cat $$out; \
	      if [ $$try = 2 ] || grep -q 'Failing input written' $$out || ! grep -q 'context deadline exceeded' $$out; then exit 1; fi; \
	      echo "fuzz: $$f stopped with the fuzz coordinator's deadline race (golang/go#75804), no failing input; once more"; \
	    done; \
	  done; \
	done

test: deps build lint unit test-scale fuzz

clean:
	rm -rf bin run $(WEB)/node_modules pkg/console/assets/vendor
