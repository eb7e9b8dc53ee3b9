# crawlfleet: one image for all six services. The service is chosen by the
# command, e.g.
#   docker run crawlfleet:latest                                            # controller (default)
#   docker run crawlfleet:latest node --enable-source-maps bin/crawlfleet.js fetcher
#
# Build:  docker build -t crawlfleet:latest .
# Layout: /app/{package.json,package-lock.json,node_modules,dist,bin,shared/redis/lua}
#         /data/results (RESULTS_DIR of the delivery service; mount a volume there)
#
# Works with BuildKit and with the classic builder (no RUN --mount), so that
# `docker-compose build` of Debian's docker-compose 1.29 can build it too.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------
# build: all dependencies, TypeScript compiled to dist/
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the dependency layer is cached until they change.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
# The rest of the context (.dockerignore keeps out node_modules, dist, results,
# test artefacts, deployment files and docs).
COPY . .
RUN npm run build

# ---------------------------------------------------------------------------
# runtime: production dependencies, compiled code, Lua scripts; non-root
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM to node (which drains and exits 0) and reaps
# zombies.
# chromium: the browser the renderer drives through playwright-core (Debian's
# package, RENDER_CHROMIUM_PATH=/usr/bin/chromium; no browser download at install).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/*

# Heap sizing of every service: scripts/supervisor.ts SERVICE_NODE_OPTIONS (the extractor's
# compose service and Deployment set its own flags, serviceNodeOptions there).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=512" \
    CONTROLLER_HOST=0.0.0.0 \
    HTTP_HOST=0.0.0.0 \
    RESULTS_DIR=/data/results

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY bin ./bin
# Read at run time from the source tree path.
COPY shared/redis/lua ./shared/redis/lua

# The image's `node` user (uid/gid 1000). Numeric, so Kubernetes can verify
# runAsNonRoot. /data/results, /data/warc (WARC files) and /data/secrets (the controller's generated API
# token, api.tokenFile) are owned by it: a named volume mounted there starts
# with this ownership.
RUN mkdir -p /data/results /data/secrets /data/warc && chown 1000:1000 /data/results /data/secrets /data/warc
USER 1000:1000

# 8080: controller API (+ /healthz /readyz /metrics); 8081: health/metrics of
# the worker services (HTTP_PORT).
EXPOSE 8080 8081

# Liveness only (process up): /healthz on the worker port or the controller
# port, whichever this container serves. HEALTH_PORT pins one port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const e=process.env;const ports=e.HEALTH_PORT?[e.HEALTH_PORT]:[e.HTTP_PORT||'8081',e.CONTROLLER_PORT||'8080'];Promise.any(ports.map((p)=>fetch('http://127.0.0.1:'+p+'/healthz',{signal:AbortSignal.timeout(4000)}).then((r)=>{if(!r.ok)throw new Error(String(r.status));}))).then(()=>process.exit(0),()=>process.exit(1));"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "bin/crawlfleet.js", "controller"]
