# z2m-mcp — see README.md. `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
BIN      := bin

.PHONY: all build test vet fmt fmt-check lint bench fuzz demo demo-http sim run clean image release

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/z2m-mcp ./cmd/z2m-mcp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/z2m-sim ./cmd/z2m-sim

## test: every test, integration included, with the race detector, against a real broker
test:
	$(GO) test -race -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w .

fmt-check:
	@out=$$(gofmt -l . | grep -v '^vendor/' || true); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi

lint: fmt-check vet

## bench: the Go benchmarks, then the whole-system table (cmd/z2m-bench:
## own mosquitto or the embedded broker, simulator, server in-process, over
## HTTP and as a process); the latest table is in README.md
bench: bench-go
	$(GO) run ./cmd/z2m-bench

## bench-go: only the Go benchmarks
.PHONY: bench-go
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in ./devices ./mcp; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
	  done; \
	done

demo:
	$(GO) run ./cmd/z2m-mcp --demo

demo-http:
	$(GO) run ./cmd/z2m-mcp --demo --transport http

sim:
	$(GO) run ./cmd/z2m-sim --mqtt-url tcp://127.0.0.1:1883

clean:
	rm -rf $(BIN) dist

## image: the container image (needs a Docker engine)
image:
	docker build --build-arg VERSION=$(VERSION) -t z2m-mcp:$(VERSION) -t z2m-mcp:latest .

## release: static binaries for the Pi (arm64, armv7), amd64 and macOS in dist/
RELEASE_TARGETS := linux/amd64 linux/arm64 linux/arm/7 darwin/amd64 darwin/arm64
release:
	@mkdir -p dist
	@for t in $(RELEASE_TARGETS); do \
	  os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; [ "$$arm" = "$$rest" ] && arm=""; \
	  suffix=$$os-$$arch$${arm:+v$$arm}; \
	  for cmd in z2m-mcp z2m-sim; do \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/$$cmd-$$suffix ./cmd/$$cmd || exit 1; \
	  done; \
	done
	@ls -l dist | awk 'NR>1 {printf "%-28s %6.1f MB\n", $$9, $$5/1048576}'
