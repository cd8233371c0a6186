# Multi-stage build: compile in the Rust image, run in a slim Debian as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sql ./sql
COPY tests ./tests
COPY config ./config
COPY migrations-fixtures ./migrations-fixtures
# The simulator's package: not built here, but Cargo needs every workspace member to read the
# workspace (and the tests' path dependency on it to check Cargo.lock).
COPY sim ./sim
RUN cargo build --release --locked --bin koji-exporter

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10045 --home-dir /nonexistent --shell /usr/sbin/nologin koji-exporter
COPY --from=build /src/target/release/koji-exporter /usr/bin/koji-exporter
COPY config/example.toml /etc/koji-exporter/config.toml
COPY config/custom-metrics.example.toml /etc/koji-exporter/custom-metrics.toml
USER koji-exporter
EXPOSE 10045
ENTRYPOINT ["/usr/bin/koji-exporter"]
CMD ["serve", "--config", "/etc/koji-exporter/config.toml"]
