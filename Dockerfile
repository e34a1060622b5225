# syntax=docker/dockerfile:1
# agentsync: a static binary on distroless, run as a non-root user.
#   docker build -t agentsync --build-arg VERSION=$(git describe --tags --match 'v[0-9]*' --dirty) .
# Without VERSION (no release tag), agentsync says the latest release of
# CHANGELOG.md.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=unknown
# -buildvcs=false: the build context has no .git (see .dockerignore); the
# commit comes in through COMMIT instead.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/agentsync ./cmd/agentsync

# distroless static: CA certificates and tzdata (for CRON_TZ=), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentsync /usr/local/bin/agentsync
# 65532 is distroless's "nonroot"; numeric so that Kubernetes' runAsNonRoot
# can check it.
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/agentsync"]
CMD ["run"]
