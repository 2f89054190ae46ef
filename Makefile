# ximagepipeline: the two commands a newcomer needs are `make run` and `make test`.
BIN := bin/ximagepipeline
GO  ?= go

.PHONY: run build test test-js vet bench deps deps-test fuzz clean build-fast test-fast bench-fast deps-fast

## run: install libvips if missing, build, serve on :3000 with data in ./data
run: build
	./$(BIN) serve

## build: the one binary
build: deps
	$(GO) build -o $(BIN) ./cmd/ximagepipeline

## test: install what the tests start (libvips, PostgreSQL, versitygw, Chromium), then vet and test everything
test: deps-test vet
	$(GO) test -count=1 -timeout 40m ./...
	$(GO) test -count=1 -race -run 'TestProcess(Threads|Concurrent)$$' ./internal/imaging/
	$(MAKE) test-js
	$(MAKE) fuzz

## test-js: the TypeScript client in clients/js: npm ci, build, unit tests,
## and browser tests in headless Chromium against the binary built here
test-js: build
	@bash scripts/test-js.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }

## fuzz: short bounded runs of the fuzz targets of every parser that reads
## an upload's bytes before libvips (internal/imagefile), about 10-15 s each.
## Bounded by executions, not time: with a time bound, Go 1.26's fuzz
## coordinator can fail a run with "context deadline exceeded" as the time
## runs out (go.dev/issue/75804, fixed in Go 1.27).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime 200000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzReadHeader$$' -fuzztime 150000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzCountJPEGScans$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzWithoutPNGText$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzStripJPEG$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzStripPNG$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzStripWebP$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzStripGIF$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzHEIFCodecs$$' -fuzztime 250000x ./internal/imagefile
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime 200000x ./uploadtoken

## bench: processing and upload benchmarks against the sharp reference (never part of test)
bench: build
	bash bench/run.sh

deps:
	@bash scripts/install-deps.sh run

## The optional build against the prebuilt libvips 8.18 that sharp ships on
## npm (docs/decisions.md): installed into .libvips/ by
## scripts/install-libvips-prebuilt.sh, found through its pkg-config file.
## CGO_CFLAGS names that directory: the go command's build cache keys cgo
## packages by CGO_CFLAGS but not by PKG_CONFIG_PATH, so without it a cached
## build against one libvips would be reused for the other.
PREBUILT := $(CURDIR)/.libvips
FAST_ENV  = PKG_CONFIG_PATH=$(PREBUILT)/lib/pkgconfig CGO_CFLAGS="-O2 -g -I$(PREBUILT)/include -DXIMAGEPIPELINE_PREBUILT_VIPS"

## build-fast: bin/ximagepipeline-fast, against the prebuilt libvips (no HEIC)
build-fast: deps-fast
	$(FAST_ENV) $(GO) build -o bin/ximagepipeline-fast ./cmd/ximagepipeline

## test-fast: every test against the prebuilt libvips
test-fast: deps-fast deps-test
	$(FAST_ENV) $(GO) test -count=1 -timeout 40m ./...

## bench-fast: make bench with bin/ximagepipeline-fast
bench-fast: build-fast
	BIN=$(CURDIR)/bin/ximagepipeline-fast bash bench/run.sh

deps-fast:
	@bash scripts/install-libvips-prebuilt.sh $(PREBUILT)

deps-test:
	@bash scripts/install-deps.sh test

clean:
	rm -rf bin
