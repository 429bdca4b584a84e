# Multi-stage build: compile in the Rust image, run from a distroless base as a
# non-root user. Build with `make image` where a Docker engine runs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mapek-operator --bin mapek-simulator \
 && cp target/release/mapek-operator target/release/mapek-simulator /

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /mapek-operator /usr/local/bin/mapek-operator
# The workload simulator of the e2e suite (e2e/kind/simulator.yaml runs it).
COPY --from=build /mapek-simulator /usr/local/bin/mapek-simulator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mapek-operator"]
CMD ["run"]
