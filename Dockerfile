# Static, non-root image of graph-org-operator, for machines with Docker (or any BuildKit/buildah):
#   docker build -t graph-org-operator .
# It is the same image scripts/image writes without a daemon: the same static build (glibc,
# crt-static; see scripts/image for why not musl), the same files laid out by the same
# `scripts/image rootfs`, the same user, entrypoint and labels. scripts/image is the one the tests
# check; keep the two in step.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's members: the Graph client the operator links, and the emulator's sources,
# which cargo reads to resolve the workspace but doesn't build for this binary.
COPY graph-client ./graph-client
COPY graph-emulator ./graph-emulator
COPY scripts/image ./scripts/image
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin graph-org-operator \
 && scripts/image rootfs /rootfs target/x86_64-unknown-linux-gnu/release/graph-org-operator

FROM scratch
COPY --from=build /rootfs/ /
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="graph-org-operator" \
      org.opencontainers.image.description="Kubernetes operator for Microsoft Graph organizations and multi-tenant organizations" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/graph-org-operator/graph-org-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
WORKDIR /
ENTRYPOINT ["/graph-org-operator"]
CMD ["run"]
