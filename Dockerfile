# syntax=docker/dockerfile:1
#
# atlassian-broker container image.
#
#   docker build -t atlassian-broker:0.1.0 .
#   docker run --rm -p 127.0.0.1:8787:8787 --read-only -v broker-data:/var/lib/atlassian-broker atlassian-broker:0.1.0
#
# Two stages: `build` type-checks TypeScript and bundles it (esbuild) with the dev dependencies; the runtime stage
# holds production dependencies and the bundle, dist/broker, only (no compiler, no tests, no sources). The base is
# pinned by exact tag: Node 26, the active LTS line, at the patch CI also runs the suite on (.ci/run NODE_LTS;
# package.json "engines" admits it). Move the three together (test/deploy/dockerfile.test.ts checks). Pin it by digest as well in your own registry mirror
# (FROM node:26.12.1-trixie-slim@sha256:...) when you want byte-for-byte reproducible builds.
# The slim image has no curl or wget: the HEALTHCHECK below uses node itself.

FROM node:26.12.1-trixie-slim AS build
WORKDIR /app
# Lockfile first: the dependency layer is rebuilt only when dependencies change.
# --ignore-scripts: nothing the build needs runs an install script (esbuild's, pulled in by tsx for the tests, is not needed).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# The build bundles src/ into dist/broker and copies the ops page's HTML, CSS and JS (which tsc does not emit) beside it.
COPY scripts/copy-assets.mjs scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

FROM node:26.12.1-trixie-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="atlassian-broker" \
      org.opencontainers.image.description="Secrets-broker sidecar: JWT-authenticated callers reach Atlassian Cloud through short-lived service-account tokens kept in Vault" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:26.12.1-trixie-slim"

# NODE_COMPILE_CACHE: V8's bytecode of the broker's modules, filled below when the image is built, so every container
# (a CronJob pod's first start too) skips compiling them (src/cli/compile-cache.ts; start-up figures in bench/README.md).
# It is read-only at run time, as the root filesystem is.
ENV NODE_ENV=production \
    BROKER_CONFIG=/etc/atlassian-broker/config.yaml \
    NODE_COMPILE_CACHE=/app/compile-cache
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /var/lib/atlassian-broker /etc/atlassian-broker \
 && chown 10001:10001 /var/lib/atlassian-broker \
 && chmod 0700 /var/lib/atlassian-broker
COPY --from=build /app/dist/broker ./dist/broker
# One real `serve` start on throwaway defaults fills the compile cache for these exact files and this Node.
COPY scripts/warm-compile-cache.mjs /tmp/warm-compile-cache.mjs
RUN node /tmp/warm-compile-cache.mjs /app/compile-cache && rm /tmp/warm-compile-cache.mjs
# A default config that works in a container (listen on 0.0.0.0, data in the volume); mount your own over it
# (a ConfigMap in Kubernetes, a bind mount in Compose). It holds no secret.
COPY deploy/docker/config.yaml /etc/atlassian-broker/config.yaml

# The only writable path: the HS256 caller key (when generated), the embedded secret store and the audit file live
# here, so the container runs with a read-only root filesystem. Nothing else is written at run time.
VOLUME ["/var/lib/atlassian-broker"]

# Numeric uid/gid, not a name: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
EXPOSE 8787

# /healthz answers as soon as the process serves; /readyz (secret store reachable) is for orchestrators' readiness.
# Port 8787 is listen.port's default: change it here too if your config moves it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/healthz',{signal:AbortSignal.timeout(4000)}).then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM itself (`serve` drains in-flight requests within shutdownGraceMs).
# Node as PID 1 reaps no zombies, but the broker starts no child processes; add `--init` for one-off commands if you
# want Ctrl-C to work on commands that install no signal handler.
ENTRYPOINT ["node", "dist/broker/main.js"]
CMD ["serve"]
