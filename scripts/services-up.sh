#!/usr/bin/env bash
# Makes sure the servers crawlfleet needs answer, one line per server:
#   RabbitMQ    at AMQP_URL's host:port     (default 127.0.0.1:5672)
#   Redis       at REDIS_URL's host:port    (default 127.0.0.1:6379)
#   PostgreSQL  at RESULTS_URL's host:port  (only when RESULTS_URL is a postgres:// URL)
#   Chromium    at RENDER_CHROMIUM_PATH     (default /usr/bin/chromium; the renderer's browser, installed only)
# A server that does not answer on a local address (127.0.0.1, localhost, ::1) is started
# when it is installed; when it is not installed, it is installed with apt-get first if this
# runs as root on Debian or Ubuntu; otherwise the script prints the command to run and exits 1.
# A server on another host is only checked.
#   Chromium    at CHROMIUM_PATH (default /usr/bin/chromium), the browser of the console's e2e
#               test: installed with apt-get (package chromium) when missing and this runs as
#               root on Debian or Ubuntu; otherwise a note with the command (only that test needs
#               it). SERVICES_UP_CHROMIUM=0 skips it (npm run quickstart does). Each start is waited for with a bound, in
# seconds: SERVICES_UP_RABBITMQ_WAIT_S (120), SERVICES_UP_REDIS_WAIT_S (15),
# SERVICES_UP_POSTGRES_WAIT_S (60).
#
# Used by `npm run quickstart`, `npm test` (pretest) and `.ci/run`. When everything answers
# it only probes each server once (Redis PING and the AMQP header over bash's /dev/tcp;
# pg_isready, or an SSLRequest when it is not installed), in about 10 ms.
#
#   bash scripts/services-up.sh
#   REDIS_URL=redis://127.0.0.1:6390 bash scripts/services-up.sh   # starts a redis-server on 6390
# (RabbitMQ and PostgreSQL are started on the port their own configuration names.)
set -uo pipefail

AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
RESULTS_URL=${RESULTS_URL:-}
# Bounds of the waits after a start, in seconds.
RABBITMQ_WAIT_S=${SERVICES_UP_RABBITMQ_WAIT_S:-120}
REDIS_WAIT_S=${SERVICES_UP_REDIS_WAIT_S:-15}
POSTGRES_WAIT_S=${SERVICES_UP_POSTGRES_WAIT_S:-60}

say() { printf 'services-up: %s\n' "$*"; }
fail() { printf 'services-up: %s\n' "$*" >&2; exit 1; }

# url_host_port URL DEFAULT_PORT: prints "host port" of scheme://[user[:pass]@]host[:port][/...].
url_host_port() {
  local rest=${1#*://}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  rest=${rest##*@}
  local host port
  if [[ $rest == \[* ]]; then # [v6]:port
    host=${rest%%]*}
    host=${host#[}
    port=${rest#*]}
    port=${port#:}
  elif [[ $rest == *:* ]]; then
    host=${rest%:*}
    port=${rest##*:}
  else
    host=$rest
    port=
  fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$2}"
}

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

# --- probes: true when the server answers its own protocol ------------------------------
# Each opens one connection with bash's /dev/tcp (bounded by `timeout` for other hosts).
redis_probe() { # host port: PING answered (+PONG, or an auth error: the server is up)
  local reply
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3
  exec 3<&- 3>&-
  [[ $reply == +PONG* || $reply == -NOAUTH* || $reply == -ERR*auth* || $reply == -WRONGPASS* ]]
}
amqp_probe() { # host port: the protocol header is answered with a method frame (Connection.Start)
  local byte
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf 'AMQP\x00\x00\x09\x01' >&3
  IFS= read -r -t 5 -N 1 byte <&3
  exec 3<&- 3>&-
  [[ $byte == $'\x01' ]]
}
postgres_probe() { # host port: accepting connections
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
    return
  fi
  local byte # SSLRequest: a running server answers S or N
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf '\x00\x00\x00\x08\x04\xd2\x16\x2f' >&3
  IFS= read -r -t 2 -N 1 byte <&3
  exec 3<&- 3>&-
  [[ $byte == S || $byte == N ]]
}
answers() { # probe host port
  if is_local "$2"; then ("$1" "$2" "$3") 2>/dev/null
  else timeout 5 bash -c "$(declare -f "$1"); $1 \"\$1\" \"\$2\"" _ "$2" "$3" 2>/dev/null; fi
}
# wait_for probe host port seconds: polls every 0.2 s; prints the seconds it took.
wait_for() {
  local start=$SECONDS i
  for ((i = 0; i < $4 * 5; i++)); do
    if answers "$1" "$2" "$3"; then
      echo $((SECONDS - start))
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# --- installing ----------------------------------------------------------------------------
debian_like() { [[ -r /etc/os-release ]] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }
APT_UPDATED=
# ensure_installed NAME BINARY PACKAGE: installs PACKAGE with apt-get when BINARY is missing
# (root on Debian/Ubuntu only); otherwise prints the command and exits 1.
ensure_installed() {
  command -v "$2" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && debian_like && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z $APT_UPDATED ]]; then apt-get update -qq >/dev/null || fail "$1: apt-get update failed"; APT_UPDATED=1; fi
    apt-get install -y -qq --no-install-recommends "$3" >/dev/null || fail "$1: apt-get install $3 failed"
    INSTALLED="installed $3 with apt-get, "
    return 0
  fi
  if debian_like; then fail "$1 is not installed: run  sudo apt-get install -y $3  (then run this again)"; fi
  fail "$1 is not installed: install the $3 package of your system (e.g. apt-get install -y $3, brew install ${3%-server}) and run this again"
}

# --- one function per server ---------------------------------------------------------------
redis_up() {
  local host port took dir log
  read -r host port < <(url_host_port "$REDIS_URL" 6379)
  if answers redis_probe "$host" "$port"; then say "Redis answers on $host:$port"; return; fi
  is_local "$host" || fail "Redis does not answer on $host:$port (REDIS_URL names another host: start it there)"
  INSTALLED=
  ensure_installed Redis redis-server redis-server
  # The Debian package may have started it (when its init script runs in this environment).
  if [[ -n $INSTALLED ]] && took=$(wait_for redis_probe "$host" "$port" 3); then
    say "Redis answers on $host:$port (${INSTALLED}ready after ${took} s)"
    return
  fi
  if [[ $(id -u) -eq 0 ]]; then dir=/var/lib/redis; log=/var/log/redis/ci.log
  else dir=${TMPDIR:-/tmp}/crawlfleet-redis-$port; log=$dir/redis.log; fi
  mkdir -p "$dir" "$(dirname "$log")"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$log" \
    || fail "Redis: redis-server --port $port did not start (log: $log)"
  took=$(wait_for redis_probe "$host" "$port" "$REDIS_WAIT_S") || fail "Redis: started redis-server on port $port but it does not answer after ${REDIS_WAIT_S} s (log: $log)"
  say "Redis answers on $host:$port (${INSTALLED}started redis-server, ready after ${took} s)"
}

rabbitmq_up() {
  local host port took
  read -r host port < <(url_host_port "$AMQP_URL" 5672)
  if answers amqp_probe "$host" "$port"; then say "RabbitMQ answers on $host:$port"; return; fi
  is_local "$host" || fail "RabbitMQ does not answer on $host:$port (AMQP_URL names another host: start it there)"
  INSTALLED=
  ensure_installed RabbitMQ rabbitmq-server rabbitmq-server
  # The Debian package may have started it (when its init script runs in this environment).
  if [[ -n $INSTALLED ]] && took=$(wait_for amqp_probe "$host" "$port" 10); then
    say "RabbitMQ answers on $host:$port (${INSTALLED}ready after ${took} s)"
    return
  fi
  # The node's listener port comes from rabbitmq.conf (default 5672), not from this script.
  [[ $port == 5672 ]] || fail "RabbitMQ does not answer on $host:$port; this script starts the local node on 5672 only: start yours on $port, or use AMQP_URL=amqp://guest:guest@127.0.0.1:5672"
  rabbitmq-server -detached >/dev/null 2>&1 || fail "RabbitMQ: rabbitmq-server -detached failed (run it as root: sudo rabbitmq-server -detached)"
  took=$(wait_for amqp_probe "$host" "$port" "$RABBITMQ_WAIT_S") || fail "RabbitMQ: started rabbitmq-server but it does not answer on $host:$port after ${RABBITMQ_WAIT_S} s (logs: /var/log/rabbitmq/)"
  say "RabbitMQ answers on $host:$port (${INSTALLED}started rabbitmq-server -detached, ready after ${took} s)"
}

postgres_up() {
  case $RESULTS_URL in
    postgres://* | postgresql://*) ;;
    *) return 0 ;;
  esac
  local host port took version cport
  read -r host port < <(url_host_port "$RESULTS_URL" 5432)
  if answers postgres_probe "$host" "$port"; then say "PostgreSQL answers on $host:$port"; return; fi
  is_local "$host" || fail "PostgreSQL does not answer on $host:$port (RESULTS_URL names another host: start it there)"
  INSTALLED=
  ensure_installed PostgreSQL pg_ctlcluster postgresql
  # The newest installed cluster named main.
  version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  [[ -n $version && -d /etc/postgresql/$version/main ]] || fail "PostgreSQL: no cluster 'main' in /etc/postgresql (create one: sudo pg_createcluster --start <version> main)"
  cport=$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')
  [[ -z $cport || $cport == "$port" ]] || fail "PostgreSQL does not answer on $host:$port: cluster $version/main is configured for port $cport (set RESULTS_URL to it, or change /etc/postgresql/$version/main/postgresql.conf)"
  if ! took=$(wait_for postgres_probe "$host" "$port" 1); then
    if [[ $(id -u) -eq 0 ]]; then
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null \
        || fail "PostgreSQL: pg_ctlcluster $version main start failed (see /var/log/postgresql/)"
    else
      fail "PostgreSQL does not answer on $host:$port: run  sudo pg_ctlcluster --skip-systemctl-redirect $version main start"
    fi
    took=$(wait_for postgres_probe "$host" "$port" "$POSTGRES_WAIT_S") \
      || fail "PostgreSQL: cluster $version/main started but does not answer on $host:$port after ${POSTGRES_WAIT_S} s (see /var/log/postgresql/)"
  fi
  say "PostgreSQL answers on $host:$port (${INSTALLED}started cluster $version/main, ready after ${took} s)"
}

# Debian's chromium: the renderer's browser and the console's browser test (not a server).
# SERVICES_UP_CHROMIUM=0 skips it (the quick start does not need it).
chromium_up() {
  local path=${RENDER_CHROMIUM_PATH:-${CHROMIUM_PATH:-/usr/bin/chromium}}
  [[ ${SERVICES_UP_CHROMIUM:-1} == 0 ]] && return 0
  if [[ -x $path ]]; then say "Chromium at $path"; return; fi
  if [[ $path == /usr/bin/chromium && $(id -u) -eq 0 ]] && debian_like && command -v apt-get >/dev/null 2>&1; then
    INSTALLED=
    ensure_installed Chromium chromium chromium
    [[ -x $path ]] || fail "Chromium: installed the chromium package but $path is missing (set RENDER_CHROMIUM_PATH)"
    say "Chromium at $path (${INSTALLED%, })"
    return
  fi
  say "note: Chromium is not at $path; the renderer and the browser tests need it: sudo apt-get install -y chromium, or set RENDER_CHROMIUM_PATH"
}

redis_up
rabbitmq_up
postgres_up
chromium_up
