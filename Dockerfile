# Static, non-root image of graph-org-operator.
# Build: docker build -t graph-org-operator .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's members: the Graph client the operator links, and the emulator's sources,
# which cargo reads to resolve the workspace but doesn't build for this binary.
COPY graph-client ./graph-client
COPY graph-emulator ./graph-emulator
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin graph-org-operator

# distroless/static carries CA certificates (Graph and login are TLS) and a nonroot user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/graph-org-operator /graph-org-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/graph-org-operator"]
CMD ["run"]
