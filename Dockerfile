# The one image for every role: `docker build -t panoptes .`; /panoptes is
# the full binary, /panoptes-agent the lean agent build the DaemonSet runs.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# What `panoptes version`, --version, /api/v1/status/buildinfo and
# panoptes_build_info report. Empty build args are read from the copied .git
# (as `make build` does); without one either, the binary falls back to Go's
# build information. From a CI checkout without .git:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg BUILD_DATE=2026-12-04T15:00:00Z .
ARG VERSION=""
ARG REVISION=""
ARG BUILD_DATE=""
# The lean agent build (-tags agentonly) is the same agent without the
# server's packages linked (about a quarter of the full binary's memory on
# every node).
RUN v=github.com/panoptes-dev/panoptes/internal/version; \
    if git rev-parse --git-dir >/dev/null 2>&1; then \
      : "${VERSION:=$(git describe --tags --always --dirty)}" "${REVISION:=$(git rev-parse HEAD)}" \
        "${BUILD_DATE:=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)}"; \
    fi; \
    ldflags="-s -w -X $v.Version=$VERSION -X $v.Revision=$REVISION -X $v.BuildDate=$BUILD_DATE"; \
    CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o /out/panoptes ./cmd/panoptes && \
    CGO_ENABLED=0 go build -tags agentonly -trimpath -ldflags="$ldflags" -o /out/panoptes-agent ./cmd/panoptes

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/panoptes /out/panoptes-agent /
USER 65534:65534
ENTRYPOINT ["/panoptes"]
