# roomcast: see README.md. `make demo` and `make test` work on a fresh Debian 12
# machine: they install what they need first.
GO          ?= go
BIN         := bin/roomcast
DEMO_OUT    ?= out/demo
TEST_FLAGS  ?= -count=1 -timeout 25m

.PHONY: all build deps test-deps demo test test-short bench vet testdata docker clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

build: deps
	$(GO) build -o $(BIN) ./cmd/roomcast

demo: build
	$(BIN) record --room demo: --record --resolution 1280x720 --fps 30 --duration 10s --out $(DEMO_OUT)
	@echo "demo recording: $(DEMO_OUT)/recording.mp4"

test: test-deps
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) -p 1 ./...

bench: build
	$(GO) run ./bench -roomcast $(BIN)

testdata:
	scripts/gen-testdata.sh

docker:
	docker build -t roomcast .

clean:
	rm -rf bin out bench/out
