#!/usr/bin/env bash
# npm run quickstart: set up and run crawlfleet on this machine, and crawl the demo site.
#
#   1. RabbitMQ and Redis answer (scripts/services-up.sh starts or installs them);
#   2. dependencies installed (npm ci, when node_modules is missing) and the code built;
#   3. the demo site (a generated site of DEMO_SITE_PAGES pages, default 2,000) on
#      127.0.0.1:DEMO_SITE_PORT (8000) and the whole stack (npm start), logs in quickstart.log;
#   4. once the API answers /readyz, one crawl of the demo site: its id, the API address and
#      a progress bar until it ends; its records are saved to results/<id>.jsonl.
# The stack then keeps running until Ctrl-C. With --once it stops after the crawl and exits
# with crawlctl's exit code (0 when the crawl completed).
#
#   npm run quickstart               # or: bash scripts/quickstart.sh [--once]
#   CONTROLLER_PORT=8090 DEMO_SITE_PORT=8010 npm run quickstart -- --once
set -euo pipefail
cd "$(dirname "$0")/.."

ONCE=0
for arg in "$@"; do
  case $arg in
    --once) ONCE=1 ;;
    *) echo "usage: bash scripts/quickstart.sh [--once]" >&2; exit 2 ;;
  esac
done

say() { printf 'quickstart: %s\n' "$*"; }

SERVICES_UP_CHROMIUM=0 bash scripts/services-up.sh

[[ -d node_modules ]] || npm ci --no-audit --no-fund
npm run build --silent

export FETCH_ALLOWED_NETWORKS="${FETCH_ALLOWED_NETWORKS:-127.0.0.0/8}" # the demo site is on loopback
export DEMO_SITE_PAGES="${DEMO_SITE_PAGES:-2000}"
export DEMO_SITE_PORT="${DEMO_SITE_PORT:-8000}"
export CONTROLLER_PORT="${CONTROLLER_PORT:-8080}"
API="http://127.0.0.1:${CONTROLLER_PORT}"
SITE_URL="http://127.0.0.1:${DEMO_SITE_PORT}/"
LOG=quickstart.log

for port in "$CONTROLLER_PORT" "$DEMO_SITE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    say "port $port is already in use (another stack or demo site?): stop it, or set CONTROLLER_PORT / DEMO_SITE_PORT" >&2
    exit 1
  fi
done

SITE= STACK=
stop() {
  trap - EXIT INT TERM
  # The stack drains and stops its services on SIGTERM.
  [[ -n $STACK ]] && kill -TERM "$STACK" 2>/dev/null && wait "$STACK" 2>/dev/null
  [[ -n $SITE ]] && kill -TERM "$SITE" 2>/dev/null && wait "$SITE" 2>/dev/null
  return 0
}
trap 'stop' EXIT
trap 'echo; say "stopping"; stop; exit 130' INT TERM

: > "$LOG"
# Each in a process group of its own (set -m), so that Ctrl-C reaches this script only,
# which then stops them once, with SIGTERM.
set -m
node dist/scripts/demo-site.js >> "$LOG" 2>&1 &
SITE=$!
node --enable-source-maps dist/scripts/stack.js >> "$LOG" 2>&1 &
STACK=$!
set +m
say "demo site ($DEMO_SITE_PAGES pages) on $SITE_URL and the stack starting; logs: tail -f $LOG"

# /readyz answers 200 once the controller reaches RabbitMQ and Redis.
if ! node -e '
  const [api, site] = process.argv.slice(1);
  const deadline = Date.now() + 90_000;
  const ok = (u) => fetch(u, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  (async () => {
    while (Date.now() < deadline) {
      if ((await ok(`${api}/readyz`)) && (await ok(site))) process.exit(0);
      await new Promise((r) => setTimeout(r, 250));
    }
    process.exit(1);
  })();' "$API" "$SITE_URL"; then
  say "the API at $API did not become ready within 90 s; the end of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
fi

ID=$(node bin/crawlctl.js --api "$API" crawl "$SITE_URL" --max-pages "$DEMO_SITE_PAGES")
say "crawl $ID of $SITE_URL started"
say "  console: $API/   (web console: this crawl at $API/#/sessions/$ID)"
say "  API:     $API   (GET $API/sessions/$ID, $API/sessions/$ID/results)"
say "  follow:  npx crawlctl status $ID --wait"
mkdir -p results
set +e
node bin/crawlctl.js --api "$API" status "$ID" --wait --output "results/$ID.jsonl"
code=$?
set -e
if [[ $ONCE == 1 ]]; then
  say "stopping (--once)"
  stop
  exit "$code"
fi
say "the stack keeps running at $API (logs: $LOG); Ctrl-C stops it and the demo site"
wait "$STACK"
