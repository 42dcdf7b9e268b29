# syntax=docker/dockerfile:1
#
# Container image of partner-security-score-exporter.
#
# Build (BuildKit, the default builder since Docker 23):
#   docker build -t partner-security-score-exporter \
#     --build-arg VERSION="$(node -p "require('./package.json').version")" \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Recommended hardening flags; the image needs none of what they take away (it writes no file,
# needs no capability, runs as UID 65532 and binds an unprivileged port):
#   --read-only --cap-drop=ALL --security-opt=no-new-privileges --user=65532:65532
#   (optionally --memory=256m --pids-limit=64)
#
# Demo mode (a simulated tenant, no credentials):
#   docker run --rm -p 10059:10059 --read-only --cap-drop=ALL --security-opt=no-new-privileges \
#     --user=65532:65532 partner-security-score-exporter --demo
#
# A real partner tenant, credentials through the environment (keep the secret out of shell
# history and `docker inspect`: an --env-file readable only by you, or your orchestrator's secrets):
#   docker run -d --name pss -p 10059:10059 --read-only --cap-drop=ALL --security-opt=no-new-privileges \
#     --user=65532:65532 --restart=unless-stopped \
#     -e AZURE_TENANT_ID=<tenant> -e AZURE_CLIENT_ID=<app id> --env-file=./pss.env \
#     partner-security-score-exporter
#   where pss.env holds AZURE_CLIENT_SECRET=...; other flags as PSS_<FLAG>, e.g. -e PSS_POLL_INTERVAL=15m.
#   A certificate instead of a secret: -v "$PWD/cert.pem:/certs/cert.pem:ro" -e AZURE_CLIENT_CERTIFICATE_PATH=/certs/cert.pem
#   (the file must be readable by UID 65532).
#
# The HEALTHCHECK (dist/web/healthcheck.js) probes /healthz where the exporter listens, from its flags or
# PSS_* variables, over https when the web config turns TLS on. With basic auth in the web config, add
# --web.healthz-without-auth (PSS_WEB_HEALTHZ_WITHOUT_AUTH=true), or the container reports unhealthy.

# Build and runtime stay on the same Node major and Debian release (bookworm = debian12), so even a
# future native dependency would link against the same glibc.
ARG BUILD_IMAGE=node:24-bookworm-slim
# Runtime: Google's distroless Node 24. It holds node, glibc, CA certificates and tzdata but no
# shell, no npm/corepack and no package manager, so there is nothing to remove and little to
# exploit or to patch; its :nonroot tag ships UID 65532. (The alternative, node:24-bookworm-slim
# with npm/corepack deleted, still carries a shell, apt and ~150 MB more.) For a shell while
# debugging, build with --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:debug-nonroot.
# Pin both images by digest (@sha256:...) in a release pipeline.
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# --- build: all dependencies without running any install script, then `npm run build` compiles src/ into dist/ ---
# No dependency needs an install script (test/unit/repo/install-scripts.test.ts fails when one in
# package-lock.json gains one), so none is run: a compromised package cannot run code at install.
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# The Node.js version check the preinstall script would run (--ignore-scripts skips it), run first.
COPY scripts/check-node.mjs ./scripts/
RUN --mount=type=cache,target=/root/.npm node scripts/check-node.mjs && npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
# The build records REVISION in dist/cli/build-info.json (--version, partner_security_build_info): the
# build context has no .git to ask.
ARG REVISION=unknown
RUN REVISION=${REVISION} npm run build

# --- prod-deps: only "dependencies"; no install scripts run (none of them needs one) ---
FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: package.json (read for --version), dist/ and production node_modules only ---
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="partner-security-score-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the Microsoft Graph partner security score" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
# Express hides stack traces from error responses in production.
ENV NODE_ENV=production
# At most two malloc arenas: without the bound, glibc gives the threads that compress and
# collect garbage arenas of their own, and their fragments add about 10 MiB to the RSS (BENCHMARKS.md).
# Blocks of 128 KiB and more mapped on their own and freed memory given back past 128 KiB: glibc
# otherwise raises both after the first big block freed, and keeps what start-up freed (about 9 MiB).
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
# Owned by root and not writable by the exporter's user: the process cannot alter its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY --from=prod-deps /app/node_modules ./node_modules
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# The default --web.listen-address is :10059, so no PSS_WEB_LISTEN_ADDRESS is set here.
EXPOSE 10059
# No shell or curl in the image: node runs dist/web/healthcheck.js, which probes /healthz (liveness, not
# /readyz: a slow first poll of Graph must not mark the container unhealthy) with the exporter's own
# listen address and web config (http or https, the server's own certificate accepted).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/nodejs/bin/node", "/app/dist/web/healthcheck.js"]
# node runs as PID 1; the exporter handles SIGTERM and SIGINT itself and starts no children.
# V8 sized for a sidecar (as in `npm start`): a 2 MiB young generation instead of one that grows to
# 16 MiB or more per semi-space under a scrape storm, and an old generation capped well inside a
# 256 MiB container limit, so a runaway heap ends in V8's own out-of-memory message, not a SIGKILL.
# --disable-sigusr1: no signal can open the inspector (see src/cli/signal-guard.ts).
ENTRYPOINT ["/nodejs/bin/node", "--disable-sigusr1", "--max-semi-space-size=2", "--max-old-space-size=192", "/app/dist/main.js"]
