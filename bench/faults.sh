#!/bin/bash
# Faults injected into the rebuild job and the server (issue 14 item 4); a summary line per fault.
#
# usage: bench/faults.sh [--runs N] WORKDIR [FAULT...]
#
# FAULT (default: all six, in this order):
#   kill-rebuild   kill -9 of `learnrec rebuild` N times at a uniformly random moment (a delay
#                  drawn within the measured duration of a whole rebuild), then N times at a random
#                  moment of its publishing step. After each kill: `index info` loads the index, a
#                  server started on it answers a query with the version `current` names, and
#                  bench/faults_check.py finds `current` naming a complete version and no partial
#                  one; after the next (whole) rebuild no temporary is left.
#   disk-full      rebuilds into a size-limited tmpfs (needs root: mount -t tmpfs) with the free
#                  space swept from none to more than a version needs: each failure names the file
#                  and the cause, leaves no temporary and `current` on the previous version, which
#                  loads; a server running on the directory keeps answering, and a `reload`
#                  afterwards serves that version.
#   kill-serve     kill -9 of `learnrec serve` N times during a `reload` of the last published
#                  version (from the one before) and N times during an `add_items` of 4,096
#                  texts, both on versions of 1M items (build-index over random vectors, so that
#                  the server is busy long enough for the kills to land inside); restarted, it
#                  serves the last published version (stats: its version and count, nothing
#                  added), and answers.
#   damage         each file of a version (index.faiss, manifest.json, and vectors.npy: a 4-bit
#                  fast-scan index) truncated and with a byte flipped: `reload` refuses it
#                  naming the file while the server keeps serving its version; `serve` refuses it
#                  at start (exit 1, the file named).
#   open-during-publish
#                  `index info` opening the directory in a loop while N versions are published
#                  (build-index, two item sets of different sizes in turn): every open must load
#                  a whole version, never one version's manifest with another's index.
#   checksum-cost  a version of 1M items (build-index over random 64-d vectors): the time
#                  `index info` takes to open it (manifest, checksums, load) and the checksums'
#                  share (CRC-32 of every file), warm page cache.
# N: --runs (default 50). The small catalogue (dataset synth: ITEMS items, 3,000 users; content
# fit, 256-d; train, 1 epoch) is made once in WORKDIR/fixture. Environment: LEARNREC (the binary,
# default build/learnrec), ITEMS (default 20000), SEED (default 1; the kill delays come from it).
# FAISS and the towers run on one thread each (OMP_NUM_THREADS=1): the machine is shared.

set -uo pipefail

RUNS=50
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,/^$/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        -*) echo "faults.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ ${#args[@]} -lt 1 ]; then
    echo "usage: $0 [--runs N] WORKDIR [FAULT...] (try --help)" >&2
    exit 2
fi
W=$(mkdir -p "${args[0]}" && cd "${args[0]}" && pwd)
FAULTS=("${args[@]:1}")
[ ${#FAULTS[@]} -eq 0 ] && FAULTS=(kill-rebuild disk-full kill-serve damage open-during-publish checksum-cost)
REPO=$(cd "$(dirname "$0")/.." && pwd)
LR=${LEARNREC:-$REPO/build/learnrec}
ITEMS=${ITEMS:-20000}
RANDOM=${SEED:-1}
PY=/usr/bin/python3
CHECK="$PY $REPO/bench/faults_check.py"
export OMP_NUM_THREADS=1
[ -x "$LR" ] || { echo "$0: $LR is not executable (build first, or set LEARNREC)" >&2; exit 1; }
for f in "${FAULTS[@]}"; do
    case "$f" in kill-rebuild|disk-full|kill-serve|damage|open-during-publish|checksum-cost) ;;
        *) echo "faults.sh: unknown fault '$f' (try --help)" >&2; exit 2 ;; esac
done

FX=$W/fixture
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
# rand_below X: a uniform number in [0, X), from bash's seeded RANDOM (30 bits).
rand_below() { awk -v r=$(((RANDOM << 15) | RANDOM)) -v x="$1" 'BEGIN { printf "%.4f", r / 1073741824 * x }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
current_of() { readlink "$1/current" | sed 's|^versions/||'; }
count_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$1/current/manifest.json"; }

make_fixture() {
    [ -f "$FX/model.safetensors" ] && return 0
    log "fixture: $ITEMS items, content, a 1-epoch model in $FX"
    mkdir -p "$FX"
    "$LR" dataset synth --items "$ITEMS" --users 3000 --seed 7 --out "$FX/data" >/dev/null &&
        "$LR" content fit --data "$FX/data" --out "$FX/content.npy" --encoder-out "$FX/enc.bin" --dim 256 >/dev/null &&
        "$LR" train --data "$FX/data" --content "$FX/content.npy" --out "$FX/model.tmp.safetensors" --epochs 1 \
            --hidden 64 --heads 2 --dim 32 --threads 1 >/dev/null 2>"$FX/train.err" &&
        mv "$FX/model.tmp.safetensors" "$FX/model.safetensors" || { echo "$0: making the fixture failed" >&2; exit 1; }
}

# rebuild IXDIR [LOG [ARGS...]]: the rebuild job on the fixture (stdout, stderr to LOG.out/.err;
# LOG defaults to IXDIR), with more options ARGS.
rebuild() {
    local ix=$1 lg=${2:-$1}
    shift $(($# < 2 ? $# : 2))
    "$LR" rebuild --data "$FX/data" --model "$FX/model.safetensors" --content "$FX/content.npy" --out "$ix" \
        --tune-k 10 "$@" >"$lg.out" 2>"$lg.err"
}

SPID=
PORT=
# start_serve IXDIR LOG [ARGS...]: a server on a free port; 0 with SPID and PORT set once it
# listens, 1 when it exits first (its stderr in LOG.err).
start_serve() {
    local ix=$1 lg=$2
    shift 2
    "$LR" serve --index "$ix" --model "$FX/model.safetensors" --content "$FX/content.npy" --listen 127.0.0.1:0 \
        --threads 1 "$@" >"$lg.out" 2>"$lg.err" &
    SPID=$!
    PORT=
    for _ in $(seq 1 600); do
        PORT=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$lg.out" 2>/dev/null)
        [ -n "$PORT" ] && return 0
        if ! kill -0 "$SPID" 2>/dev/null; then
            wait "$SPID" 2>/dev/null
            SPID=
            return 1
        fi
        sleep 0.05
    done
    echo "$0: the server did not listen within 30 s" >&2
    exit 1
}
stop_serve() {
    if [ -n "$SPID" ]; then
        kill -TERM "$SPID" 2>/dev/null
        wait "$SPID" 2>/dev/null
    fi
    SPID=
}
trap 'stop_serve; [ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null' EXIT
q() { "$LR" query --connect "127.0.0.1:$PORT" --timeout 30000 "$@"; }
# stats_field NAME: one field of the server's stats.
stats_field() { q --method stats --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# answers: a recommend call answered with 5 ids.
answers() { [ "$(q --history 1,2,3 -k 5 --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["results"]))')" = 5 ]; }

# ---- kill -9 of rebuild --------------------------------------------------------------------------

# The steps rebuild prints ([1/5] ... [5/5]), by number; 0: killed before it printed the first.
PHASE_NAMES=(starting loading item-tower index-build tuning publishing)

# The kills must land within milliseconds of where they are aimed (the publishing step takes
# tens of them): no process is forked between the aim and the kill. Sleeps are `read -t` on a
# FIFO nobody writes; rebuild's stderr comes through another FIFO, read line by line.
nap() { read -r -t "$1" -u "$SLEEPFD"; }
# start_piped IXDIR: a rebuild in the background (RPID), its stderr on descriptor RFD.
start_piped() {
    rm -f "$W/.stderr" && mkfifo "$W/.stderr"
    "$LR" rebuild --data "$FX/data" --model "$FX/model.safetensors" --content "$FX/content.npy" --out "$1" \
        --tune-k 10 >"$1.out" 2>"$W/.stderr" &
    RPID=$!
    exec {RFD}<"$W/.stderr"
    : >"$1.err"
}
# read_until TEXT FILE: copies stderr lines into FILE until one that starts with TEXT (0) or the
# end (1).
read_until() {
    local line
    while IFS= read -r line <&"$RFD"; do
        printf '%s\n' "$line" >>"$2"
        [[ $line == "$1"* ]] && return 0
    done
    return 1
}
# finish_piped IXDIR: the rest of stderr into IXDIR.err; returns the rebuild's exit status.
finish_piped() {
    cat <&"$RFD" >>"$1.err"
    exec {RFD}<&-
    { wait "$RPID"; } 2>/dev/null # without the shell's "Killed" line
}

# whole_rebuild IXDIR: a rebuild let run to its end; its duration and that of its publishing
# step (to its exit) appended to the caller's durs and pubs.
whole_rebuild() {
    local t0=$EPOCHREALTIME t1
    start_piped "$1"
    read_until "[5/5]" "$1.err"
    t1=$EPOCHREALTIME
    finish_piped "$1" || return 1
    durs+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
    pubs+=("$(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
}
# recent ARRAY...: the median of the last 5 values (the machine's load drifts during a run).
recent() { printf '%s\n' "${@: -5}" | median; }

# kill_one_rebuild IXDIR MODE U: a rebuild killed after a delay of U (in [0, 1)) times the
# recent duration of a whole one (MODE uniform), or of its publishing step, counted from the
# start of that step (MODE publish); then the checks, then a whole rebuild. Counts into the
# caller's variables.
kill_one_rebuild() {
    local ix=$1 mode=$2 delay phase cur chk
    delay=$(awk -v u="$3" -v t="$(recent "${durs[@]}")" -v p="$(recent "${pubs[@]}")" -v m="$mode" \
        'BEGIN { printf "%.4f", u * (m == "uniform" ? t : p) }')
    delays+="$delay "
    start_piped "$ix"
    [ "$mode" = publish ] && read_until "[5/5]" "$ix.err"
    nap "$delay"
    if kill -9 "$RPID" 2>/dev/null; then
        finish_piped "$ix"
        phase=$(sed -n 's|^\[\([1-5]\)/5\].*|\1|p' "$ix.err" | tail -n 1) # the last step it began
        phases+="${PHASE_NAMES[${phase:-0}]} "
    else
        finish_piped "$ix"
        finished=$((finished + 1))
    fi
    if "$LR" index info "$ix" >/dev/null 2>"$ix.info.err"; then loads=$((loads + 1)); else
        echo "  run $run: index info failed: $(cat "$ix.info.err")" >&2; fi
    chk=$($CHECK "$ix" 2>"$ix.check.err") || echo "  run $run: $(cat "$ix.check.err")" >&2
    partial=$((partial + $(sed -n '1s/.*partial=\([0-9]*\).*/\1/p' <<<"$chk")))
    [ "$(sed -n '1s/.*temporaries=\([0-9]*\).*/\1/p' <<<"$chk")" != 0 ] && debris=$((debris + 1))
    cur=$(current_of "$ix")
    # what the kill left: a version being written (or an old one being pruned), a new link not
    # yet renamed over `current`, a whole new version not yet current, or nothing
    if ! grep -q "tmpdirs=0 " <<<"$chk"; then states+="temporary-directory "
    elif ! grep -q "tmplinks=0" <<<"$chk"; then states+="link-not-swapped "
    elif ! grep -q "newest=$cur " <<<"$chk"; then states+="new-version-not-current "
    else states+="nothing-half-done "; fi
    if start_serve "$ix" "$ix.serve" && answers && [ "$(stats_field version)" = "$cur" ]; then served=$((served + 1)); else
        echo "  run $run: the server on $cur did not answer: $(tail -n 2 "$ix.serve.err")" >&2; fi
    stop_serve
    # the next run, whole: it clears what the killed one left
    if whole_rebuild "$ix"; then
        chk=$($CHECK "$ix") && [ "$(sed -n '1s/.*temporaries=\([0-9]*\).*/\1/p' <<<"$chk")" = 0 ] && clean=$((clean + 1))
    else
        echo "  run $run: the next rebuild failed: $(tail -n 1 "$ix.err")" >&2
    fi
}

fault_kill_rebuild() {
    local dir=$W/kill-rebuild ix durs=() pubs=() d mode us=() i
    rm -rf "$dir" && mkdir -p "$dir"
    ix=$dir/ix
    for _ in 1 2 3; do # whole rebuilds: their duration, and that of their publishing step
        whole_rebuild "$ix" || { echo "$0: rebuild failed: $(tail -n 3 "$ix.err")" >&2; exit 1; }
    done
    log "kill-rebuild: a whole rebuild takes $(recent "${durs[@]}") s, its publishing step and exit $(recent "${pubs[@]}") s (medians)"
    for mode in uniform publish; do
        local loads=0 partial=0 debris=0 served=0 clean=0 finished=0 run phases="" where states="" left delays=""
        for i in $(seq 1 "$RUNS"); do us[i]=$(rand_below 1); done
        for run in $(seq 1 "$RUNS"); do kill_one_rebuild "$ix" "$mode" "${us[run]}"; done
        d=$(printf '%s\n' $delays | sort -g | sed -n '1p;$p' | paste -sd-) # the range of the delays
        where=$(printf '%s\n' $phases | grep . | sort | uniq -c | awk '{ printf "%s %d, ", $2, $1 }')
        left=$(printf '%s\n' $states | sort | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')
        printf 'kill -9 rebuild (%s): %d runs (killed in: %sfinished first: %d), %d loads OK, %d served a query, %d partial versions, %d runs left temporaries, %d next runs left none (left by the kill: %s)\n' \
            "$([ "$mode" = uniform ] && echo "kills ${d} s after the start, a whole rebuild taking $(recent "${durs[@]}") s" ||
               echo "kills ${d} s after publishing began, publishing and exit taking $(recent "${pubs[@]}") s")" "$RUNS" \
            "$where" "$finished" "$loads" "$served" "$partial" "$debris" "$clean" "$left"
    done
    rm -f "$W/.stderr"
}

# ---- disk full during publish --------------------------------------------------------------------

fault_disk_full() {
    if [ "$(id -u)" != 0 ]; then echo "disk full: skipped (mounting a tmpfs needs root)"; return; fi
    local dir=$W/disk-full ix vsize avail free k steps=24 failed=0 named=0 intact=0 kept=0 reloaded=0 debris=0
    local files="" at ok_free="" last_free=0
    rm -rf "$dir" && mkdir -p "$dir/mnt" # examples: one error message for each file a rebuild failed at
    MNT=$dir/mnt
    mount -t tmpfs -o size=16m tmpfs "$MNT" || { echo "$0: mount -t tmpfs failed" >&2; exit 1; }
    ix=$MNT/ix
    rebuild "$ix" "$dir/rebuild" || { echo "$0: the first rebuild failed: $(tail -n 2 "$dir/rebuild.err")" >&2; exit 1; }
    vsize=$(du -sb "$ix/versions/v000001" | cut -f1)
    start_serve "$ix" "$dir/serve" || { echo "$0: serve failed: $(tail -n 2 "$dir/serve.err")" >&2; exit 1; }
    # free space: 0 to a version and more in coarse steps, and 1 KB steps around the version's
    # size, where the last files (the manifest) are written; in order, up to the first success
    local frees
    frees=$( { for k in $(seq 0 "$steps"); do echo $((k * (vsize + 16384) / (steps - 2))); done
               for k in $(seq -12 12); do echo $((vsize + k * 1024)); done; } | sort -n | uniq)
    for free in $frees; do
        avail=$(df -B1 --output=avail "$MNT" | tail -n 1)
        [ "$avail" -gt "$free" ] && fallocate -l $((avail - free)) "$MNT/filler"
        rebuild "$ix" "$dir/rebuild" # its output outside the tmpfs
        local rc=$?
        rm -f "$MNT/filler"
        if [ "$rc" = 0 ]; then ok_free=$free; break; fi
        failed=$((failed + 1))
        last_free=$free
        grep -q "No space left on device" "$dir/rebuild.err" && grep -q "$ix/" "$dir/rebuild.err" && named=$((named + 1))
        at=$(grep -o 'index\.faiss\|manifest\.json\|vectors\.npy\|mkdir' "$dir/rebuild.err" | head -n 1)
        files+="${at:-other} "
        grep -q "^${at:-other}:" "$dir/examples" 2>/dev/null || echo "${at:-other}: $(tail -n 1 "$dir/rebuild.err")" >>"$dir/examples"
        $CHECK "$ix" >"$dir/chk" 2>&1 && grep -q "current=v000001 versions=1 complete=1 partial=0" "$dir/chk" &&
            "$LR" index info "$ix" >/dev/null 2>&1 && intact=$((intact + 1))
        grep -q "temporaries=0" "$dir/chk" || debris=$((debris + 1))
        answers && [ "$(stats_field version)" = v000001 ] && kept=$((kept + 1))
        q --method reload --json 2>/dev/null | grep -q '"version":"v000001"' && answers && reloaded=$((reloaded + 1))
    done
    local tally
    tally=$(printf '%s\n' $files | sort | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')
    printf 'disk full during publish: %d failed rebuilds (free space 0 to %d KB; version %d KB; failed at: %s), %d errors naming the file and "No space left on device", %d times the previous version intact and current, %d served by the running server, %d reloaded, %d left temporaries; %s\n' \
        "$failed" $((last_free / 1024)) $((vsize / 1024)) "$tally" "$named" "$intact" "$kept" \
        "$reloaded" "$debris" \
        "$([ -n "$ok_free" ] && echo "published once $((ok_free / 1024)) KB were free" || echo "never published")"
    sed 's/^[^:]*: /  e.g. /' "$dir/examples"
    stop_serve
    umount "$MNT" && MNT=
}

# ---- kill -9 of serve during reload and during add_items -------------------------------------

# A reload of the 20,000-item versions, or an add_items of 256 texts, keeps the server busy for
# a few milliseconds, less than the spread of a client's own start-up on a shared machine: few
# kills would land inside them. So the server here serves versions of 1M items (random vectors of
# the model's dimension, published by build-index with the model's checksum), whose reload takes
# a large fraction of a second, and add_items sends 4,096 texts in one call (--max-batch 4096).

# pycall PORT METHOD [PARAMS.json]: one msgpack-rpc call (params as a JSON file, over 128 KB of
# texts would not fit in an argument); exit 0 when it was answered without an error.
pycall() {
    $PY - "$@" <<'PYEOF'
import json, socket, sys
import msgpack
port, method = int(sys.argv[1]), sys.argv[2]
params = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(msgpack.packb([0, 1, method, params]))
    unp = msgpack.Unpacker(raw=False)
    while True:
        data = s.recv(1 << 16)
        if not data:
            sys.exit(1)
        unp.feed(data)
        for msg in unp:
            sys.exit(0 if msg[2] is None else 1)
except OSError:  # the server was killed: no answer
    sys.exit(1)
PYEOF
}

# add_params BASE N: add_items params for N new items (ids BASE..BASE+N-1) with catalogue texts.
add_params() {
    "$LR" dataset texts "$FX/data" | head -n "$2" | $PY -c '
import json, sys
base = int(sys.argv[1])
print(json.dumps({"items": [{"id": base + i, "text": t.rstrip("\n")} for i, t in enumerate(sys.stdin)]}))' "$1"
}

# restarted_ok IXDIR LOG: a server started after the kill serves what `current` names: its
# version, its whole count, nothing added, and answers a query.
restarted_ok() {
    local ix=$1 cur count
    cur=$(current_of "$ix")
    count=$(count_of "$ix")
    start_serve "$ix" "$2" --encoder "$FX/enc.bin" --max-batch 4096 || return 1
    [ "$(stats_field version)" = "$cur" ] && [ "$(stats_field count)" = "$count" ] &&
        [ "$(stats_field added)" = 0 ] && answers
}

# timed_median CMD...: the median wall time of three runs of CMD (which must succeed).
timed_median() {
    local t0 ts=()
    for _ in 1 2 3; do
        t0=$EPOCHREALTIME
        "$@" >/dev/null || { echo "$0: $* failed" >&2; exit 1; }
        ts+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
    done
    printf '%s\n' "${ts[@]}" | median
}

# add_next: the next of the add_items calls prepared in $dir/add1.json ... (ADDS counts them).
add_next() {
    ADDS=$((ADDS + 1))
    pycall "$PORT" add_items "$dir/add$ADDS.json"
}

# kill_serve_runs WHAT P T: RUNS times, a server is started and brought to the state the call
# changes (for reload: serving the version before the last), the call is sent and the server
# killed at a random moment between P and T seconds after the call began (P: what a client
# alone takes, a ping; T: the whole call); then a new server must serve the last published
# version, nothing added.
kill_serve_runs() {
    local what=$1 p=$2 t=$3 run cpid ok=0 answered=0 delays=() i
    for i in $(seq 1 "$RUNS"); do
        delays[i]=$(awk -v p="$p" -v t="$t" -v u="$(rand_below 1)" 'BEGIN { print p + u * (t > p ? t - p : 0.001) }')
    done
    for run in $(seq 1 "$RUNS"); do
        start_serve "$ix" "$dir/serve" --encoder "$FX/enc.bin" --max-batch 4096 || { echo "$0: serve failed" >&2; exit 1; }
        if [ "$what" = reload ]; then
            q --method reload --params '{"version": "v000002"}' >/dev/null || echo "  run $run: reload v000002 failed" >&2
            pycall "$PORT" reload &
        else
            pycall "$PORT" add_items "$dir/add.json" &
        fi
        cpid=$!
        nap "${delays[run]}"
        kill -9 "$SPID"
        { wait "$SPID"; } 2>/dev/null
        SPID=
        wait "$cpid" && answered=$((answered + 1))
        if restarted_ok "$ix" "$dir/restart"; then ok=$((ok + 1)); else
            echo "  run $run: after the kill: $(tail -n 2 "$dir/restart.err")" >&2; fi
        stop_serve
    done
    printf 'kill -9 serve during %s: %d runs (killed %s-%s s after the call began; a ping takes %s s), %d calls answered before the kill, %d restarts served the last published version (stats: its version and count, added 0; queries answered)\n' \
        "$what" "$RUNS" "$p" "$t" "$p" "$answered" "$ok"
}

fault_kill_serve() {
    local dir=$W/kill-serve ix p r a crc dim i
    rm -rf "$dir" && mkdir -p "$dir"
    ix=$dir/ix
    rebuild "$ix" || { echo "$0: rebuild failed: $(tail -n 2 "$ix.err")" >&2; exit 1; }
    crc=$($PY -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$FX/model.safetensors")
    dim=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["dim"])' "$ix/current/manifest.json")
    log "kill-serve: two versions of 1M random $dim-d vectors (build-index, a minute or two each)"
    $PY -c 'import numpy as np, sys; r = np.random.default_rng(2); x = r.standard_normal((1000000, int(sys.argv[2])), dtype=np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True); np.save(sys.argv[1], x)' "$dir/x.npy" "$dim"
    for _ in 2 3; do
        "$LR" build-index --items "$dir/x.npy" --out "$ix" --index IVF1024,SQ8 --tune-k 10 --model-checksum "$crc" \
            >"$dir/build.out" 2>&1 || { echo "$0: build-index failed: $(tail -n 2 "$dir/build.out")" >&2; exit 1; }
    done
    rm -f "$dir/x.npy"
    for i in 1 2 3; do add_params $((i * 1000000 + 1000000)) 4096 >"$dir/add$i.json"; done
    cp "$dir/add1.json" "$dir/add.json"
    start_serve "$ix" "$dir/serve" --encoder "$FX/enc.bin" --max-batch 4096 || { echo "$0: serve failed" >&2; exit 1; }
    p=$(timed_median pycall "$PORT" ping)
    r=$(timed_median pycall "$PORT" reload)
    ADDS=0
    a=$(timed_median add_next)
    stop_serve
    log "kill-serve: a ping takes $p s, a reload of 1M items $r s, an add_items of 4,096 texts $a s (medians of 3, client included)"
    kill_serve_runs reload "$p" "$r"
    kill_serve_runs add_items "$p" "$a"
}

# ---- a version damaged after publishing --------------------------------------------------------

# damage FILE HOW: truncated to half its size, or its middle byte flipped (all 8 bits).
damage() {
    $PY - "$1" "$2" <<'PYEOF'
import os, sys
path, how = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
with open(path, "r+b") as f:
    if how == "truncated":
        f.truncate(size // 2)
    else:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
PYEOF
}

fault_damage() {
    local dir=$W/damage ix v2 f how cases=0 refused=0 kept=0 start_refused=0 files
    rm -rf "$dir" && mkdir -p "$dir"
    ix=$dir/ix
    rebuild "$ix" || { echo "$0: rebuild failed" >&2; exit 1; }
    start_serve "$ix" "$dir/serve" || { echo "$0: serve failed" >&2; exit 1; }
    # 4-bit fast-scan codes: the version keeps the item vectors for re-scoring, a third file
    rebuild "$ix" "$ix" --index IVF256,PQ16x4fs || { echo "$0: rebuild failed" >&2; exit 1; }
    v2=$ix/versions/v000002
    cp -a "$v2" "$dir/pristine"
    files=$(ls "$v2")
    for f in $files; do
        for how in truncated flipped; do
            cases=$((cases + 1))
            rm -rf "$v2" && cp -a "$dir/pristine" "$v2"
            damage "$v2/$f" "$how"
            if ! q --method reload >/dev/null 2>"$dir/reload.err" && grep -q "versions/v000002/$f" "$dir/reload.err"; then
                refused=$((refused + 1)); else echo "  $f $how: reload: $(cat "$dir/reload.err")" >&2; fi
            answers && [ "$(stats_field version)" = v000001 ] && kept=$((kept + 1))
            local spid=$SPID sport=$PORT
            if ! start_serve "$ix" "$dir/start" && grep -q "versions/v000002/$f" "$dir/start.err"; then
                start_refused=$((start_refused + 1)); else echo "  $f $how: serve started: $(cat "$dir/start.err")" >&2; stop_serve; fi
            SPID=$spid PORT=$sport
        done
    done
    rm -rf "$v2" && cp -a "$dir/pristine" "$v2"
    local back
    back=$(q --method reload --json 2>&1)
    stop_serve
    printf 'damaged version: %d cases (%s x truncated, flipped byte), %d reloads refused naming the file, %d times the old version kept serving, %d starts refused (exit 1) naming the file; repaired, it reloads: %s\n' \
        "$cases" "$(echo $files | tr ' ' ',')" "$refused" "$kept" "$start_refused" "$back"
}

# ---- opening while versions are published ---------------------------------------------------

fault_open_during_publish() {
    local dir=$W/open-during-publish n ok=0 bad=0
    rm -rf "$dir" && mkdir -p "$dir"
    $PY -c 'import numpy as np, sys; r = np.random.default_rng(3)
for n in (100000, 120000):
    x = r.standard_normal((n, 16), dtype=np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save("%s/x%d.npy" % (sys.argv[1], n), x)' "$dir"
    publish() { "$LR" build-index --items "$dir/x$1.npy" --out "$dir/ix" --index Flat --rescore off --keep 0 >/dev/null 2>&1; }
    publish 100000
    ( for n in $(seq 1 "$RUNS"); do publish $((n % 2 ? 120000 : 100000)) || echo "publish $n failed" >&2; done
      touch "$dir/done" ) &
    while [ ! -e "$dir/done" ]; do
        if "$LR" index info "$dir/ix" >/dev/null 2>"$dir/err"; then ok=$((ok + 1)); else
            bad=$((bad + 1)); head -n 1 "$dir/err" >>"$dir/errors"; fi
    done
    wait
    printf 'open during publish: %d versions published (100,000 and 120,000 items in turn) while index info opened the directory %d times: %d loaded a whole version, %d failed\n' \
        "$RUNS" $((ok + bad)) "$ok" "$bad"
    [ "$bad" -gt 0 ] && sed 's/^/  e.g. /' "$dir/errors" | head -n 3
    rm -f "$dir"/x*.npy
}

# ---- the cost of the checksums ------------------------------------------------------------------

# checksum_cost_of DIR: opening the version (index info), and the CRC-32 of its files alone.
checksum_cost_of() {
    local dir=$1 t0 times=() open crc sizes
    "$LR" index info "$dir" >/dev/null || exit 1 # warms the page cache
    for _ in 1 2 3; do
        t0=$EPOCHREALTIME
        "$LR" index info "$dir" >/dev/null || exit 1
        times+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
    done
    open=$(printf '%s\n' "${times[@]}" | median)
    crc=$($PY - "$dir/current" <<'PYEOF'
import os, sys, time, zlib
d = sys.argv[1]
best = None
for _ in range(3):
    t = time.perf_counter()
    for name in sorted(os.listdir(d)):
        crc = 0
        with open(os.path.join(d, name), "rb") as f:
            while True:
                b = f.read(1 << 16)
                if not b:
                    break
                crc = zlib.crc32(b, crc)
    t = time.perf_counter() - t
    best = t if best is None or t < best else best
total = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
print("%.3f s for %.0f MB (%.2f GB/s)" % (best, total / 1e6, total / best / 1e9))
PYEOF
)
    sizes=$(cd "$dir/current" && for f in *; do printf '%s %s MB, ' "$f" $(($(stat -c %s "$f") / 1000000)); done)
    printf 'checksum cost, 1M-item version %s (%s): opening it (index info: manifest, checksums, load) %s s (median of 3, warm page cache); CRC-32 of its files alone %s\n' \
        "$(sed -n 's/^index: //p' <<<"$("$LR" index info "$dir")")" "${sizes%, }" "$open" "$crc"
}

fault_checksum_cost() {
    local dir=$W/checksum-cost f
    mkdir -p "$dir"
    # the default index (8-bit scalar codes), and 4-bit fast-scan codes, whose versions also
    # hold the vectors for re-scoring (float32: 256 MB)
    for f in IVF1024,SQ8 IVF1024,PQ16x4fs; do
        [ -f "$dir/ix-$f/current/manifest.json" ] && continue
        log "checksum-cost: $f over 1M random 64-d vectors (build-index, a few minutes)"
        [ -f "$dir/x.npy" ] || $PY -c 'import numpy as np, sys; r = np.random.default_rng(1)
x = r.standard_normal((1000000, 64), dtype=np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(sys.argv[1], x)' "$dir/x.npy"
        "$LR" build-index --items "$dir/x.npy" --out "$dir/ix-$f" --index "$f" --tune-k 10 >"$dir/build.out" 2>&1 ||
            { echo "$0: build-index failed: $(tail -n 2 "$dir/build.out")" >&2; exit 1; }
    done
    rm -f "$dir/x.npy"
    for f in IVF1024,SQ8 IVF1024,PQ16x4fs; do checksum_cost_of "$dir/ix-$f"; done
}

make_fixture
rm -f "$W/.sleep" && mkfifo "$W/.sleep" && exec {SLEEPFD}<>"$W/.sleep"
for f in "${FAULTS[@]}"; do
    log "fault: $f"
    "fault_${f//-/_}"
done
