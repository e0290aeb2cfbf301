# roomcast on Debian 12. The build stage has Go and FFmpeg 5.1's -dev
# packages; the runtime image carries only the FFmpeg shared libraries.
FROM golang:1.26-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      pkg-config libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev \
      libswscale-dev libswresample-dev libavutil-dev libpostproc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/roomcast ./cmd/roomcast \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/roomcast-serve ./cmd/roomcast-serve

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libavcodec59 libavformat59 libavfilter8 libavdevice59 libswscale6 libswresample4 libavutil57 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/roomcast roomcast
COPY --from=build /out/roomcast /out/roomcast-serve /usr/local/bin/
USER roomcast
WORKDIR /home/roomcast
ENTRYPOINT ["roomcast"]
CMD ["record", "--room", "demo:", "--record", "--duration", "10s", "--out", "out/demo"]
