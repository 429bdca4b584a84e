# Multi-stage build: compile in the Rust image, run from a distroless base as a
# non-root user. Build with `make image` where a Docker engine runs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin mapek-operator \
 && cp target/release/mapek-operator /mapek-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /mapek-operator /usr/local/bin/mapek-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mapek-operator"]
CMD ["run"]
