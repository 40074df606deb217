# Multi-stage build: static binaries (CGO off) on distroless, non-root.
# docker build -t z2m-mcp .   (or: make image)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/z2m-mcp ./cmd/z2m-mcp \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/z2m-sim ./cmd/z2m-sim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/z2m-mcp /z2m-mcp
COPY --from=build /out/z2m-sim /z2m-sim
USER nonroot:nonroot
EXPOSE 8771
ENV Z2M_MCP_TRANSPORT=http Z2M_MCP_LISTEN=0.0.0.0:8771
HEALTHCHECK --interval=30s --timeout=20s CMD ["/z2m-mcp", "check", "--env-file", ""]
ENTRYPOINT ["/z2m-mcp"]
