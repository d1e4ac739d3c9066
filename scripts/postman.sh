#!/usr/bin/env bash
# Run the Postman collection (postman/) with newman: `make postman`.
#
# Without BASE_URL: starts the app the way `make run` does (demo mode, a fresh temporary SQLite database,
# a free port or POSTMAN_PORT), waits for /api/health, runs the collection, and stops the app's whole
# process group whatever happens. With BASE_URL=http://host:port: runs against that server (it must be in
# demo mode) and starts nothing.
#
# Environment:
#   BASE_URL                 an already running server; skips starting one
#   POSTMAN_PORT             port for the server started here (default: a free one)
#   POSTMAN_STARTUP_TIMEOUT  seconds to wait for /api/health (default 600: the first start builds the
#                            front end; 120 with BASE_URL)
#   NEWMAN_ARGS              extra newman arguments, e.g. "--reporters cli,junit --reporter-junit-export x.xml"
# Exit status: newman's (non-zero when any assertion or request failed), or 1 if the server never came up.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
POSTMAN_DIR=$ROOT/postman
COLLECTION=$POSTMAN_DIR/referral_app.postman_collection.json
ENVIRONMENT=$POSTMAN_DIR/local.postman_environment.json

# The project's Node 24 (from requirements.txt, in .venv/bin) when there is one; `make` puts it first anyway.
if [[ -x $ROOT/.venv/bin/node ]]; then
    export PATH="$ROOT/.venv/bin:$PATH"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "postman: node and npm are needed (run 'make postman', which installs them into .venv)" >&2
    exit 1
fi
# newman 6 on Node 24 prints a harmless fs.F_OK deprecation warning.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--no-deprecation"

log() { echo "postman: $*" >&2; }

# --- newman, pinned by postman/package-lock.json ---------------------------------------------------------------
NEWMAN=$POSTMAN_DIR/node_modules/.bin/newman
STAMP=$POSTMAN_DIR/node_modules/.installed
if [[ ! -x $NEWMAN || ! -f $STAMP || $POSTMAN_DIR/package-lock.json -nt $STAMP ]]; then
    log "installing newman (npm ci in postman/)"
    (cd "$POSTMAN_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$STAMP"
fi

# --- the server ----------------------------------------------------------------------------------------------
SERVER_PID=""
WORK_DIR=""

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 -- "-$SERVER_PID" 2>/dev/null; then
        log "stopping the app (process group $SERVER_PID)"
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 -- "-$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 -- "-$SERVER_PID" 2>/dev/null; then
            log "the app did not stop in 20 s; killing it"
            kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    if [[ -n $WORK_DIR ]]; then
        if [[ $rc -ne 0 && -f $WORK_DIR/server.log ]]; then
            log "last lines of the app's log:"
            tail -n 40 "$WORK_DIR/server.log" >&2 || true
        fi
        rm -rf "$WORK_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

healthy() {
    # shellcheck disable=SC2016  # JavaScript, not shell
    node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
        .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$1/api/health"
}

wait_for_health() {
    local base_url=$1 timeout=$2 started=$SECONDS
    log "waiting for $base_url/api/health (up to ${timeout}s)"
    until healthy "$base_url"; do
        if [[ -n $SERVER_PID ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the app exited before it became healthy"
            return 1
        fi
        if ((SECONDS - started >= timeout)); then
            log "$base_url did not become healthy in ${timeout}s"
            return 1
        fi
        sleep 1
    done
    log "healthy after $((SECONDS - started))s"
}

if [[ -n ${BASE_URL:-} ]]; then
    BASE_URL=${BASE_URL%/}
    wait_for_health "$BASE_URL" "${POSTMAN_STARTUP_TIMEOUT:-120}"
else
    # POSTMAN_PORT must be free (else the health check could reach some other server); 0 = any free port.
    # shellcheck disable=SC2016  # JavaScript, not shell
    PORT=$(node -e 'const s = require("net").createServer();
        s.on("error", (e) => { console.error(`postman: port ${process.argv[1]}: ${e.code}`); process.exit(1); });
        s.listen(Number(process.argv[1]), () => { console.log(s.address().port); s.close(); })' "${POSTMAN_PORT:-0}")
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/referral_app-postman.XXXXXX")
    BASE_URL=http://127.0.0.1:$PORT
    log "starting the app like 'make run' on port $PORT (demo mode, fresh database in $WORK_DIR)"
    # A session of its own, so the whole tree (make, reflex, granian workers) stops as one process group.
    # The outer make's MAKEFLAGS would carry its command-line variables (PORT=...) into this make: drop them.
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        PORT="$PORT" DEMO_MODE=true DATABASE_URL="sqlite:///$WORK_DIR/postman.db" \
        setsid make --no-print-directory -C "$ROOT" run >"$WORK_DIR/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    wait_for_health "$BASE_URL" "${POSTMAN_STARTUP_TIMEOUT:-600}"
fi

# --- the collection ------------------------------------------------------------------------------------------
log "running the collection against $BASE_URL"
# shellcheck disable=SC2086  # NEWMAN_ARGS is a list of words
"$NEWMAN" run "$COLLECTION" --environment "$ENVIRONMENT" --env-var "baseUrl=$BASE_URL" ${NEWMAN_ARGS:-}
