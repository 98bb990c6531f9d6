# The two commands of the README: `make run` (go run ./cmd/panoptes) and
# `make test` (everything CI runs).
GO            ?= go
CACHE         ?= $(HOME)/.cache/panoptes
GOLANGCI_VERSION ?= v2.15.0
GOLANGCI      := $(CACHE)/bin/golangci-lint-$(GOLANGCI_VERSION)
FUZZTIME      ?= 10s
# Screenshots of the browser tests (test/ui), one directory per test.
ARTIFACTS     ?= $(CURDIR)/test-artifacts
# The packages `make unit` and `make test-load` test, and the cores the load
# keeps busy.
TESTPKGS      ?= ./...
LOAD_CORES    ?= $(shell nproc)

.PHONY: run build test deps fmt-check vet lint unit fuzz bench

run:
	$(GO) run ./cmd/panoptes

# What `panoptes version`, every role's --version, /api/v1/status/buildinfo
# and panoptes_build_info report: the tag (or commit) with -dirty for
# uncommitted changes, the commit, and its date (UTC; the commit's, so that a
# build is reproducible). Outside git the binary falls back to Go's build
# information (internal/version).
LDFLAGS       := $(shell v=github.com/panoptes-dev/panoptes/internal/version; \
	git rev-parse --git-dir >/dev/null 2>&1 && \
	echo "-X $$v.Version=$$(git describe --tags --always --dirty)" \
	"-X $$v.Revision=$$(git rev-parse HEAD)" \
	"-X $$v.BuildDate=$$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)")

# bin/panoptes holds every role; bin/panoptes-agent is the lean agent build
# the DaemonSet runs (-tags agentonly: the server's packages are not linked).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/panoptes ./cmd/panoptes
	CGO_ENABLED=0 $(GO) build -tags agentonly -trimpath -ldflags '$(LDFLAGS)' -o bin/panoptes-agent ./cmd/panoptes

# The whole test suite: installs the real peers when it can, then format,
# vet, lint, and every test with the race detector.
test: deps fmt-check vet lint unit

deps:
	PANOPTES_CACHE=$(CACHE) GOLANGCI_VERSION=$(GOLANGCI_VERSION) hack/test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# -race, as the tests build: vet compiles every dependency, and with the same
# flags as `make unit` those compiled packages serve the tests from the build
# cache (on a cold cache this saves the tests' own 7-minute compile).
vet:
	$(GO) vet -race ./...
	$(GO) vet -race -tags agentonly ./cmd/panoptes

lint:
	$(GOLANGCI) run ./...

# Every test with the race detector, through hack/testsummary: the output of
# plain `go test` without the logs of passing tests, then each skipped test
# with its reason ("missing <what>: <how to get it>") and a last line
# "N passed, N failed, N skipped". Under CI=true (.ci/run) a missing peer
# fails instead of skipping.
# The lean agent build's command (-tags agentonly, what the DaemonSet ships)
# is tested on its own first; the summary line of the whole suite comes last.
# test/e2e takes about 22 minutes on an idle 2-core machine (its Kubernetes
# tests run one after the other: the HPA's kube-controller-manager acts on
# every namespace); the 50-minute limit leaves room for both cores busy.
unit:
	$(GO) run ./hack/testsummary $(GO) test -race -count=1 -tags agentonly -json ./cmd/panoptes
	PANOPTES_TEST_ARTIFACTS=$(ARTIFACTS) $(GO) run ./hack/testsummary $(GO) test -race -count=1 -timeout 50m -json $(TESTPKGS)

# The tests under load, as on a busy node (not part of `make test`): every
# test of $(TESTPKGS) three times with the race detector while a CPU burner
# keeps $(LOAD_CORES) cores busy: stress-ng when hack/test-deps.sh installed
# it, else testkit's burner (internal/testkit/burn). A test that passes only
# on an idle machine waits on time instead of on an event. The time-outs are
# go test's 10 minutes per test binary stretched: test/e2e runs about 4
# minutes on an idle machine, and three times that and more under load.
.PHONY: test-load
test-load:
	@burndir=$$(mktemp -d); \
	if command -v stress-ng >/dev/null 2>&1; then \
		stress-ng --cpu $(LOAD_CORES) --quiet & \
	else \
		$(GO) build -o $$burndir/burn ./internal/testkit/burn || exit 1; \
		$$burndir/burn -cores $(LOAD_CORES) & \
	fi; \
	burner=$$!; trap 'kill $$burner 2>/dev/null; wait $$burner 2>/dev/null; rm -rf $$burndir' EXIT; \
	PANOPTES_TEST_ARTIFACTS=$(ARTIFACTS) $(GO) run ./hack/testsummary $(GO) test -race -count=3 -timeout 60m -json $(TESTPKGS)

# Every fuzzer for FUZZTIME, one after the other (not part of `make test`;
# nightly material): `make fuzz FUZZTIME=10m`, or a subset with FUZZPKG (go
# list patterns) and FUZZ (a regexp on the fuzzers' names), e.g.
# `make fuzz FUZZPKG=./internal/cgroups FUZZ=V2`. A fuzzer that fails does
# not stop the others; the target fails at the end and lists them. go test
# writes each failing input to the package's testdata/fuzz/FuzzX/, where it
# stays (git status lists it: commit it with the fix, and every later
# `go test` replays it as a regression case). One row per fuzzer (package,
# fuzzer, result, seconds fuzzed, executions) goes to $(ARTIFACTS)/fuzz.tsv,
# its output to $(ARTIFACTS)/fuzz/. Run it under `nice -n 19` on a shared
# machine: the workers use every core.
FUZZPKG       ?= ./...
FUZZ          ?= .
fuzz:
	@mkdir -p $(ARTIFACTS)/fuzz; tsv=$(ARTIFACTS)/fuzz.tsv; failed=$(ARTIFACTS)/fuzz.failed; : >$$failed; \
	printf 'package\tfuzzer\tresult\tseconds\texecs\n' >$$tsv; \
	$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(FUZZPKG) | while read -r pkg dir; do \
		for f in $$(cat $$dir/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' | grep -E -- '$(FUZZ)'); do \
			log=$(ARTIFACTS)/fuzz/$$(echo $$pkg | tr / _).$$f.log; \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			if $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) </dev/null >$$log 2>&1; then res=ok; \
			else res=FAIL; echo "$$pkg.$$f" >>$$failed; tail -30 $$log; fi; \
			last=$$(grep 'fuzz: elapsed:' $$log | tail -1); \
			secs=$$(echo "$$last" | sed -n 's/.*elapsed: \([0-9hms]*\),.*/\1/p'); \
			execs=$$(echo "$$last" | sed -n 's/.*execs: \([0-9]*\) .*/\1/p'); \
			printf '%s\t%s\t%s\t%s\t%s\n' $$pkg $$f $$res "$${secs:-0s}" "$${execs:-0}" | tee -a $$tsv; \
		done; \
	done; \
	git status --short --untracked-files=all -- '*testdata/fuzz/*' 2>/dev/null | sed 's/^/new failing input: /'; \
	if [ -s $$failed ]; then echo "fuzz: failed: $$(cat $$failed)" >&2; exit 1; fi

# Side-by-side benchmark against node_exporter; see bench/README.md.
bench: build
	bench/agent.sh
