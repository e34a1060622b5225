# agentsync developer tasks. `make test` is the one test command; `make demo`
# runs the whole job against a simulated tenant.

GO       ?= go
FUZZTIME ?= 30s
# The release tag the tree is at or after (v0.x.y), as git describe says;
# empty without one, and agentsync then says the changelog's latest release.
VERSION  ?= $(shell git describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --dirty 2>/dev/null)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# The race detector needs cgo, so a C compiler: without one (go env reports
# CGO_ENABLED=0), make test runs without it and says so. CI sets RACE=-race.
RACE     ?= $(shell [ "$$($(GO) env CGO_ENABLED 2>/dev/null)" = 1 ] && echo -race)

# The binary make build writes. Its first build names each package as it
# compiles it (go build -v), so that the minute or two it takes shows
# progress; later builds are quiet.
BIN      ?= bin/agentsync
PROGRESS ?= $(if $(wildcard $(BIN)),,-v)

.PHONY: build test demo bench fuzz lint schema

build:
	@echo "building $(BIN) (the first build compiles every dependency, a minute or two: the packages show as they compile)"
	$(GO) build $(PROGRESS) -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/agentsync

# go test -json through internal/testsummary: go test's usual lines, then
# every skipped test with its reason, and the counts; it fails as go test
# does.
test:
ifeq ($(RACE),)
	@echo "no C compiler (cgo is off): the tests run without the race detector"
endif
	$(GO) run ./internal/testsummary $(GO) test $(RACE) -json -count=1 ./...

demo: build
	$(BIN) demo

# Writes migrations/schema.sql, the schema every migration makes together,
# from a database migrated by the tests.
schema:
	UPDATE_SCHEMA=1 $(GO) test -count=1 -run '^TestSchemaFileIsCurrent$$' ./migrations

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Runs each fuzz target for FUZZTIME: a duration, or a count of inputs such
# as 20000x. CI uses a count: with a duration, Go 1.26 can fail a target
# with "context deadline exceeded" at the moment the time is up.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(GO) vet ./...
	$(GO) mod tidy -diff
