# Starting and stopping `learnrec serve` for the load scripts (sourced by bench/soak.sh and
# bench/churn.sh, which set REPO and LEARNREC, and OUT with script_args, before starting a server).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then # run, not sourced
    case "${1:-}" in
        -h|--help) echo "usage: . bench/serve_lib.sh (functions for soak.sh and churn.sh; not a program)"; exit 0 ;;
        *) echo "usage: . bench/serve_lib.sh: not a program, got '$*' (try --help)" >&2; exit 2 ;;
    esac
fi

SERVER_PID=
SAMPLER_PID=

# script_args SCRIPT ARGS...: what soak.sh and churn.sh take: --help prints SCRIPT's leading
# comment, another option is refused, and the five arguments set OUT MODEL CONTENT DATA INDEX.
script_args() {
    local script=$1 a
    shift
    for a in "$@"; do
        case "$a" in
            -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script"; exit 0 ;;
            -*) echo "$(basename "$script"): unknown option '$a' (try --help)" >&2; exit 2 ;;
        esac
    done
    if [ $# -ne 5 ]; then
        echo "usage: $script OUTDIR MODEL CONTENT DATA INDEXDIR (try --help)" >&2
        exit 2
    fi
    OUT=$1 MODEL=$2 CONTENT=$3 DATA=$4 INDEX=$5
}

# start_server NAME ARGS...: `learnrec serve ARGS --listen 127.0.0.1:0` in the background, logs in
# OUT/NAME.{out,err}; waits (up to 10 minutes: a 1M-item index takes a while to load and verify)
# for its `listening on HOST:PORT` line and sets PORT and SERVER_PID.
start_server() {
    local name=$1
    shift
    "$LEARNREC" serve "$@" --listen 127.0.0.1:0 >"$OUT/$name.out" 2>"$OUT/$name.err" &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 6000); do
        PORT=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$OUT/$name.out" 2>/dev/null | head -n 1)
        [ -n "$PORT" ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$0: the server exited before listening:" >&2
            tail -n 20 "$OUT/$name.err" >&2
            SERVER_PID=
            exit 1
        fi
        sleep 0.1
    done
    echo "$0: no 'listening on HOST:PORT' line from the server in 10 minutes" >&2
    exit 1
}

# server_alive: whether the server started last is still running.
server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }

# stop_server: SIGTERM (then SIGKILL after 10 s); sets SERVER_RC to its exit status.
stop_server() {
    SERVER_RC=
    if [ -n "$SERVER_PID" ]; then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            kill -TERM "$SERVER_PID"
            for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
        fi
        wait "$SERVER_PID" 2>/dev/null
        SERVER_RC=$?
    fi
    SERVER_PID=
}

# start_sampler EVERY_S FILE: samples the server's resident memory (bench/rss_sample.py).
start_sampler() {
    /usr/bin/python3 "$REPO/bench/rss_sample.py" "$SERVER_PID" "$1" "$2" &
    SAMPLER_PID=$!
}

stop_sampler() {
    if [ -n "$SAMPLER_PID" ]; then
        kill -TERM "$SAMPLER_PID" 2>/dev/null
        wait "$SAMPLER_PID" 2>/dev/null
    fi
    SAMPLER_PID=
}

cleanup() {
    stop_sampler
    stop_server
}
