#!/usr/bin/env bash
# One command to set up and run crawlfleet on this machine, offline: installs dependencies
# if needed, builds, then runs the demo site (a generated 2,000-page site on 127.0.0.1:8000)
# and the whole stack (npm start) until Ctrl-C. Crawl it from another terminal with
#   npx crawlctl crawl http://127.0.0.1:8000/ --max-pages 2000 --wait
set -euo pipefail
cd "$(dirname "$0")/.."

check() { # name host port hint
  if ! (exec 3<>"/dev/tcp/$2/$3") 2>/dev/null; then
    echo "quickstart: $1 is not answering on $2:$3. $4" >&2
    exit 1
  fi
}
check RabbitMQ 127.0.0.1 5672 "Start it with: rabbitmq-server -detached (or set AMQP_URL)"
check Redis 127.0.0.1 6379 "Start it with: redis-server --daemonize yes (or set REDIS_URL)"

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

export FETCH_ALLOWED_NETWORKS="${FETCH_ALLOWED_NETWORKS:-127.0.0.0/8}"   # the demo site is on loopback
export DEMO_SITE_PAGES="${DEMO_SITE_PAGES:-2000}"
node dist/scripts/demo-site.js &
SITE=$!
trap 'kill $SITE 2>/dev/null || true' EXIT
node --enable-source-maps dist/scripts/stack.js
