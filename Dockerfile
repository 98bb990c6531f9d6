# The one image for every role: `docker build -t panoptes .`; /panoptes is
# the full binary, /panoptes-agent the lean agent build the DaemonSet runs.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/panoptes ./cmd/panoptes
# The lean agent build for the DaemonSet: the same agent without the server's
# packages linked (about a quarter of the full binary's memory on every node).
RUN CGO_ENABLED=0 go build -tags agentonly -trimpath -ldflags="-s -w" -o /out/panoptes-agent ./cmd/panoptes

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/panoptes /out/panoptes-agent /
USER 65534:65534
ENTRYPOINT ["/panoptes"]
