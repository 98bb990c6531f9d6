# The one image for every role: `docker build -t panoptes .`
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/panoptes ./cmd/panoptes

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/panoptes /panoptes
USER 65534:65534
ENTRYPOINT ["/panoptes"]
