#!/usr/bin/env bash
# scale.sh [one|shards|moves|all] : the 1,000-database night of issue 35, measured against
# d1-emulator with D1's account limit (1,200 requests per 5 minutes). Not a test: each night
# takes 12 to 15 minutes, because the account's limit, not the machine, sets its length.
#
#   one     one process: d1-export-start --all | d1-export-wait | d1-fetch | d1-verify
#   shards  the same pipeline in 8 shards at once (--shard 0/8 ... 7/8), each with its own
#           budget folder as on its own host (a pod, a runner)
#   moves   shard membership (--dry-run) before and after adding 10 databases
#   all     the three, in that order (the default)
#
# Each night reports: wall time, API requests per database (the emulator's counters), requests
# refused for the rate limit, exports not complete, every database backed up exactly once (from
# the manifests: union = all, no overlap), and where the time went (the tools' summaries).
# Environment: D1_BIN_DIR (default target/debug), SCALE_DATABASES (default 1000), SCALE_LIMIT
# (the account limit and the budget, default 1200/300), SCALE_DIR (a
# folder to keep everything in; default a temporary one, removed at the end).
set -euo pipefail

what=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${D1_BIN_DIR:-$root/target/debug}
n=${SCALE_DATABASES:-1000}
limit=${SCALE_LIMIT:-1200/300}
for t in d1-emulator d1-export-start d1-export-wait d1-fetch d1-verify; do
    [ -x "$bin/$t" ] || { echo "scale.sh: $bin/$t missing: cargo build --workspace --bins" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "scale.sh: needs jq" >&2; exit 2; }
command -v curl >/dev/null || { echo "scale.sh: needs curl" >&2; exit 2; }
export PATH="$bin:$PATH"

if [ -n "${SCALE_DIR:-}" ]; then
    work=$SCALE_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
data=$work/data
mkdir -p "$data"

emu_pid=
stop_emulator() {
    if [ -n "$emu_pid" ]; then
        kill "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
        emu_pid=
    fi
}
trap 'stop_emulator' INT TERM

# A fresh emulator (counters at zero) on the seeded folder: $n small databases, D1's limit,
# exports complete on their first poll as a small database's does on D1 (a long poll held
# until the export is done).
start_emulator() {
    stop_emulator
    rm -f "$work/emu.url"
    mkfifo "$work/emu.url"
    d1-emulator --data-dir "$data" --seed-count "$n" --token scale-token \
        --rate-limit "$limit" --export-polls 1 >"$work/emu.url" &
    emu_pid=$!
    read -r CLOUDFLARE_API_BASE_URL <"$work/emu.url"
    export CLOUDFLARE_API_BASE_URL CLOUDFLARE_API_TOKEN=scale-token \
        CLOUDFLARE_ACCOUNT_ID=emulator-account D1_REQUEST_BUDGET=$limit
    state_url=${CLOUDFLARE_API_BASE_URL%/client/v4}/__emulator/state
}

# What the emulator counted, in words; $1 = how many databases the night should have covered.
report_state() {
    curl -s "$state_url" | jq -r --argjson n "$1" '
      (.requests | to_entries | map(select(.key != "download" and .key != "upload")) | map(.value) | add) as $api
      | (.requests_by_database | [.[]]) as $per
      | "API requests: \($api) in all (\(.requests.list) list, \(.requests.get) get, \(.requests.query) query, \(.requests["export-start"]) export start, \(.requests["export-poll"]) poll), \(($api / $n * 1000 | round) / 1000) per database",
        "per database: min \($per | min), max \($per | max), databases counted \($per | length) of \($n)",
        "refused for the rate limit: \(.rate_limit.refused)",
        "exports: \(.exports | length), not complete: \([.exports[] | select(.status != "complete")] | length) (\([.exports[] | .status] | group_by(.) | map("\(.[0]) \(length)") | join(", ")))"'
}

# Every database backed up exactly once: the ids of the manifests under $1, against the account.
report_union() {
    local ids
    ids=$(find "$1" -name '*.json' -exec jq -r '.database_id' {} + | sort)
    local total unique all
    total=$(printf '%s\n' "$ids" | grep -c . || true)
    unique=$(printf '%s\n' "$ids" | sort -u | grep -c . || true)
    all=$(curl -s -H "Authorization: Bearer scale-token" \
        "$CLOUDFLARE_API_BASE_URL/accounts/emulator-account/d1/database?per_page=10000" \
        | jq -r '.result[].uuid' | sort)
    local missing
    missing=$(comm -23 <(printf '%s\n' "$all") <(printf '%s\n' "$ids" | sort -u) | grep -c . || true)
    echo "manifests: $total, distinct databases: $unique, databases in the account: $(printf '%s\n' "$all" | grep -c .), missing: $missing, backed up more than once: $((total - unique))"
}

night_one() {
    echo "== one process, $n databases, D1_REQUEST_BUDGET=$limit"
    start_emulator
    local out=$work/one
    rm -rf "$out"
    mkdir -p "$out"
    local t0 t1 code=0
    t0=$(date +%s.%N)
    (cd "$out" && { d1-export-start --all | d1-export-wait | d1-fetch -o backups/ \
        | d1-verify -q >verify.out; } 2>night.err) || code=$?
    t1=$(date +%s.%N)
    echo "exit $code, wall time $(echo "$t1 - $t0" | bc) s, OK lines $(grep -c '^OK ' "$out/verify.out" || true)"
    report_state "$n"
    report_union "$out/backups"
    echo "where the time went (the tools' summaries):"
    grep -E 'started|complete;|pacing' "$out/night.err" | sed 's/^/  /' || true
    stop_emulator
}

night_shards() {
    echo "== 8 shards at once, $n databases, D1_REQUEST_BUDGET=$limit for the account"
    start_emulator
    local out=$work/shards
    rm -rf "$out"
    mkdir -p "$out"
    local t0 t1 i
    local pids=()
    t0=$(date +%s.%N)
    for i in 0 1 2 3 4 5 6 7; do
        mkdir -p "$out/$i/runtime"
        chmod 700 "$out/$i/runtime"
        (cd "$out/$i" && XDG_RUNTIME_DIR=$PWD/runtime sh -c '
            start=$(date +%s.%N)
            { d1-export-start --all --shard "$1/8" | d1-export-wait --allow-empty \
              | d1-fetch --allow-empty -o backups/ | d1-verify -q --allow-empty >verify.out; } 2>night.err
            echo "$? $(echo "$(date +%s.%N) - $start" | bc)" >status' sh "$i") &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    t1=$(date +%s.%N)
    echo "wall time $(echo "$t1 - $t0" | bc) s (all 8 done)"
    for i in 0 1 2 3 4 5 6 7; do
        read -r code secs <"$out/$i/status"
        echo "  shard $i/8: exit $code, $secs s, $(grep -c '^OK ' "$out/$i/verify.out" || true) databases"
    done
    report_state "$n"
    report_union "$out"
    echo "where the time went (shard 0's summaries):"
    grep -E 'started|complete;|pacing' "$out/0/night.err" | sed 's/^/  /' || true
    stop_emulator
}

night_moves() {
    echo "== shard membership before and after adding 10 databases"
    start_emulator
    local i
    for i in 0 1 2 3 4 5 6 7; do
        D1_REQUEST_BUDGET=0 d1-export-start --all --dry-run --shard "$i/8" | sed "s/\$/ $i/"
    done | sort >"$work/before.txt"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        curl -s -o /dev/null -H "Authorization: Bearer scale-token" -H 'Content-Type: application/json' \
            -d "{\"name\":\"added-$i\"}" "$CLOUDFLARE_API_BASE_URL/accounts/emulator-account/d1/database"
    done
    for i in 0 1 2 3 4 5 6 7; do
        D1_REQUEST_BUDGET=0 d1-export-start --all --dry-run --shard "$i/8" | sed "s/\$/ $i/"
    done | sort >"$work/after.txt"
    echo "before: $(wc -l <"$work/before.txt") databases, after: $(wc -l <"$work/after.txt")"
    echo "moved between shards: $(comm -23 "$work/before.txt" "$work/after.txt" | wc -l)"
    echo "per shard before: $(awk '{print $3}' "$work/before.txt" | sort | uniq -c | awk '{printf "%s ", $1}')"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        rm -f "$data/added-$i.sqlite"
    done
    stop_emulator
}

case $what in
    one) night_one ;;
    shards) night_shards ;;
    moves) night_moves ;;
    all) night_moves; night_one; night_shards ;;
    *) echo "usage: scale.sh [one|shards|moves|all]" >&2; exit 2 ;;
esac
