# chatbot-tester container image: a Swift toolchain stage builds the release binary (Swift runtime
# linked statically), a Debian bookworm-slim stage runs it as a non-root user with libuv1 and
# libcurl4 (https goes through FoundationNetworking's URLSession, over the system's OpenSSL and CA store).
#
#   docker build -t chatbot-tester:latest .
#   docker run --rm chatbot-tester:latest test /config/job.yaml --out /results
#
# Used by docker-compose.yml and ops/k8s/. Linted by the tests with hadolint.

FROM swift:6.2-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends libuv1-dev pkg-config libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits reuse the resolved packages layer.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product chatbot-tester --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/chatbot-tester" /out/chatbot-tester

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libuv1 libcurl4 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/tester tester
COPY --from=builder /out/chatbot-tester /usr/local/bin/chatbot-tester
USER 10001:10001
WORKDIR /home/tester
ENTRYPOINT ["chatbot-tester"]
CMD ["--help"]
