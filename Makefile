# roomcast: see README.md. `make demo` and `make test` work on a fresh Debian 12
# machine: they install what they need first.
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
BIN         := bin/roomcast
DEMO_OUT    ?= out/demo
# Every package's tests run with the race detector.
TEST_FLAGS  ?= -race -count=1 -timeout 25m
FUZZTIME    ?= 30s

.PHONY: all build deps test-deps demo test lint fuzz bench chaos vet testdata docker clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

# roomcast-serve is the service without FFmpeg (no cgo): `roomcast serve`
# execs it when it lies beside roomcast.
build: deps
	$(GO) build -o $(BIN) ./cmd/roomcast
	CGO_ENABLED=0 $(GO) build -o bin/roomcast-serve ./cmd/roomcast-serve

demo: build
	$(BIN) record --room demo: --record --resolution 1280x720 --fps 30 --duration 10s --out $(DEMO_OUT)
	@echo "demo recording: $(DEMO_OUT)/recording.mp4"

test: test-deps vet lint
	$(GO) test $(TEST_FLAGS) -p 1 ./...

vet:
	$(GO) vet ./...

# staticcheck.conf at the top of the tree says which checks run.
lint:
	@unformatted=$$($$($(GO) env GOROOT)/bin/gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	$(GOBIN)/staticcheck ./...

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m for a long run).
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench: build
	$(GO) run ./bench -roomcast $(BIN)

# The long versions of the fault table's fleet rows: ten NATS leader kills,
# ten failovers of a job's node, ten browser lip-sync runs and a 10-minute
# browser room (drift), the network faults, and 25 peers with a screen share
# for 10 minutes. Run it on a quiet machine: Chromium's fake devices slip
# under load.
chaos: build test-deps
	NATSTEST_FAILOVERS=10 $(GO) test $(TEST_FLAGS) -run TestLeaderFailover -v ./internal/natstest
	$(GO) run ./bench -roomcast $(BIN) -only fleet
	ROOMCAST_LIPSYNC_RUNS=10 $(GO) test $(TEST_FLAGS) -run 'TestBrowserLipSync$$' -v ./cmd/roomcast
	ROOMCAST_LIPSYNC_SECONDS=600 $(GO) test $(TEST_FLAGS) -run 'TestBrowserLipSync$$' -v ./cmd/roomcast
	ROOMCAST_NETFAULT_ALL=1 $(GO) test $(TEST_FLAGS) -run TestNetworkFaults -v ./internal/netfault
	ROOMCAST_PEERS_LONG=1 $(GO) test $(TEST_FLAGS) -run TestLiveKit25Peers -v ./cmd/roomcast

testdata:
	scripts/gen-testdata.sh

docker:
	docker build -t roomcast .

clean:
	rm -rf bin out bench/out
