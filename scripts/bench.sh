#!/usr/bin/env bash
# make bench: d1-fetch and d1-verify against the shell pipelines users would otherwise write
# (`curl | sha256sum | zstd`, `sqlite3 < dump.sql`), on the same dumps served by d1-emulator on
# loopback. Prints one table: figure, ours, reference, ratio, target, pass/fail.
#
#   BENCH_SIZES="100M 1G"   dump sizes (default); BENCH_SIZES=20M for a quick run
#   BENCH_RUNS=7            timed runs of a quick command (median); long ones get fewer
#   BENCH_NO_INSTALL=1      never apt-get; say what is missing instead
#   BENCH_TIMETRAVEL=0      leave out the Time Travel restore against a dump import (at the end;
#                           alone: scripts/bench-timetravel.sh)
#   BENCH_IMPORT_SIZES=100M sizes whose import through the emulator is measured (default: the
#                           smallest; "100M 1G" adds about two minutes for the 1 GB import and
#                           its sqlite3 reference)
#
# Exit status: 0 when every target passed, 1 when one missed or a tool is missing.
# Generated databases are cached in target/bench/data/ (delete it to regenerate); the table is
# also written, as Markdown, to target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRIPT_T0=$(date +%s)
SIZES=${BENCH_SIZES:-"100M 1G"}
RUNS=${BENCH_RUNS:-7}
BENCH=target/bench
DATA=$BENCH/data
RUN=$BENCH/run
REL=target/release
# A single run longer than this is not repeated: its one timing stands (n=1 in the table).
LONG=15
# A run that takes more than QUICK seconds counts as a sample, QUICK_RUNS in all.
QUICK=3
QUICK_RUNS=3
# sqlite3 restoring a dump into a file without a transaction gets this long; the rest is
# extrapolated from the rows it restored.
DB_REF_SECONDS=8

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- tools -------------------------------------------------------------------------------------
# Debian package for each command the benchmark needs; hyperfine is optional (a /usr/bin/time
# loop stands in).
declare -A PKG=([sqlite3]=sqlite3 [curl]=curl [zstd]=zstd [jq]=jq [/usr/bin/time]=time
  [sha256sum]=coreutils [hyperfine]=hyperfine)
missing=()
for c in "${!PKG[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("${PKG[$c]}"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${BENCH_NO_INSTALL:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
      say "apt-get could not install everything: ${missing[*]}"
  fi
  for c in "${!PKG[@]}"; do
    command -v "$c" >/dev/null 2>&1 && continue
    [ "$c" = hyperfine ] && { say "hyperfine missing: timing with a /usr/bin/time loop"; continue; }
    die "missing: $c (Debian package ${PKG[$c]}); install it and run again"
  done
fi
HYPERFINE=$(command -v hyperfine || true)

# --- build -------------------------------------------------------------------------------------
# All at once (cargo shares the dependencies and uses both cores); when that fails, one package
# at a time, so that a tool that does not build only blanks its own rows.
TOOLS=(d1-fetch d1-verify d1-export-start d1-export-wait d1-upload)
say "cargo build --release (d1-emulator, d1-bench, ${TOOLS[*]})"
mkdir -p "$DATA"
rm -rf "$RUN" && mkdir -p "$RUN"
declare -A HAVE=()
if cargo build --release -q -p d1-emulator -p d1-bench "${TOOLS[@]/#/-p=}" 2>"$RUN/build.log"; then
  for p in "${TOOLS[@]}"; do HAVE[$p]=1; done
else
  cargo build --release -q -p d1-emulator -p d1-bench || die "d1-emulator or d1-bench does not build"
  for p in "${TOOLS[@]}"; do
    if cargo build --release -q -p "$p" 2>"$RUN/build-$p.log"; then
      HAVE[$p]=1
    else
      tail -n 5 "$RUN/build-$p.log" >&2
      say "$p does not build: its rows are marked missing"
    fi
  done
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
SETUP=$((T0 - SCRIPT_T0))

# --- data --------------------------------------------------------------------------------------
# Two shapes (d1-bench-gen --shape): `app` (bench-SIZE: users, order items, blobs), the one
# fetch and the import are measured on, and `text` (bench-text-SIZE: long unicode rows, D1's
# replace(…char(10)) form, integers beyond 2^53, many foreign keys), which d1-verify is measured
# on too, so that its speed is not only speed on the dumps it was tuned for (issue 24).
for s in $SIZES; do
  for shape in app text; do
    db=$DATA/bench-$s.sqlite
    [ "$shape" = text ] && db=$DATA/bench-text-$s.sqlite
    if [ -f "$db" ]; then
      say "reusing $db"
    else
      say "generating $db"
      $REL/d1-bench-gen --shape "$shape" --size "$s" --out "$db" >/dev/null
    fi
  done
done

# --- emulator ----------------------------------------------------------------------------------
# Signed URLs normally live an hour; a long TTL lets every run reuse the same URL. Exports
# complete on the first call (--export-polls 0); the poll loop below copes either way.
TOKEN=bench-token
$REL/d1-emulator --data-dir "$DATA" --token "$TOKEN" --url-ttl 604800 --export-polls 0 \
  >"$RUN/emulator.url" 2>"$RUN/emulator.log" &
EMU=$!
MOTO_PID=
cleanup() {
  kill "$EMU" 2>/dev/null || true; wait "$EMU" 2>/dev/null || true
  [ -z "$MOTO_PID" ] || { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
  rm -rf "$RUN"
}
trap cleanup EXIT
for _ in $(seq 200); do [ -s "$RUN/emulator.url" ] && break; sleep 0.05; done
BASE=$(head -n1 "$RUN/emulator.url")
[ -n "$BASE" ] || die "d1-emulator did not start: $(cat "$RUN/emulator.log")"
API=$BASE/accounts/emulator-account/d1/database
AUTH=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")

# signed_url NAME: export database NAME through the API, print the signed URL of its dump.
signed_url() {
  local uuid body answer status
  uuid=$(curl -sf "${AUTH[@]}" "$API?name=$1" | jq -r --arg n "$1" '.result[] | select(.name==$n) | .uuid')
  [ -n "$uuid" ] || die "the emulator does not list database $1"
  body='{"output_format":"polling"}'
  for _ in $(seq 600); do
    answer=$(curl -sf -X POST "${AUTH[@]}" -d "$body" "$API/$uuid/export") || die "export of $1 failed"
    status=$(jq -r '.result.status' <<<"$answer")
    case $status in
      complete) jq -r '.result.result.signed_url' <<<"$answer"; return ;;
      error) die "export of $1 failed: $(jq -r '.result.error' <<<"$answer")" ;;
    esac
    body=$(jq -c '{output_format: "polling", current_bookmark: .result.at_bookmark}' <<<"$answer")
  done
  die "export of $1 did not complete"
}

# import_dump DATABASE_UUID DUMP MD5: the emulator's import API by hand (init, PUT the file,
# ingest, poll until complete), as wrangler and d1-import drive it; fails on an import error.
import_dump() {
  local answer url filename bm status
  answer=$(curl -sf -X POST "${AUTH[@]}" -d "{\"action\":\"init\",\"etag\":\"$3\"}" "$API/$1/import") || return 1
  url=$(jq -r '.result.upload_url' <<<"$answer")
  filename=$(jq -r '.result.filename' <<<"$answer")
  curl -sf -T "$2" -o /dev/null "$url" || return 1
  answer=$(curl -sf -X POST "${AUTH[@]}" \
    -d "{\"action\":\"ingest\",\"filename\":\"$filename\",\"etag\":\"$3\"}" "$API/$1/import") || return 1
  while :; do
    status=$(jq -r '.result.status' <<<"$answer")
    case $status in
      complete) return 0 ;;
      error) echo "import failed: $(jq -r '.result.error' <<<"$answer")" >&2; return 1 ;;
    esac
    bm=$(jq -r '.result.at_bookmark' <<<"$answer")
    answer=$(curl -sf -X POST "${AUTH[@]}" \
      -d "{\"action\":\"poll\",\"current_bookmark\":\"$bm\"}" "$API/$1/import") || return 1
  done
}
# import_fresh DUMP MD5: imports DUMP into a new, empty database bench-import (recreated for
# every run: an import is refused by d1-import into a non-empty database, and fails on D1).
import_fresh() {
  local AUTH=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json") uuid
  rm -f "$DATA/bench-import.sqlite" "$DATA/bench-import.sqlite-journal"
  uuid=$(curl -sf -X POST "${AUTH[@]}" -d '{"name":"bench-import"}' "$API" | jq -r '.result.uuid')
  [ -n "$uuid" ] && import_dump "$uuid" "$1" "$2"
}
export -f import_dump import_fresh
export API DATA TOKEN

# --- S3 server ---------------------------------------------------------------------------------
# d1-upload is measured against its floor, `curl -T` of the same bytes to the same server: moto
# on loopback (the venv the tests make under target/, or moto_server on PATH).
MOTO=
MOTO_BIN=${MOTO_SERVER:-}
[ -z "$MOTO_BIN" ] && [ -x target/moto-venv/bin/moto_server ] && MOTO_BIN=target/moto-venv/bin/moto_server
[ -z "$MOTO_BIN" ] && MOTO_BIN=$(command -v moto_server || true)
if [ -n "$MOTO_BIN" ] && [ -n "${HAVE[d1-upload]:-}" ]; then
  MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$MOTO_BIN" -H 127.0.0.1 -p "$MPORT" >"$RUN/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/" && break; sleep 0.1; done
  if curl -sf -o /dev/null -X PUT "http://127.0.0.1:$MPORT/bench"; then
    MOTO=http://127.0.0.1:$MPORT
  else
    say "moto_server did not start: the upload rows are marked missing"
  fi
else
  say "moto_server missing (make test installs it under target/moto-venv): upload rows missing"
fi

# --- measuring ---------------------------------------------------------------------------------
# Results, keyed by figure: seconds (median), runs, peak RSS in KB.
declare -A SEC=() RUNS_OF=() RSS=() DUMP_BYTES=() DB_BYTES=()

# measure KEY PREPARE COMMAND: one run under /usr/bin/time (peak RSS), then the median of
# further runs (hyperfine, else a loop). The first run is a warm-up for quick commands; a slow
# one counts as a sample (QUICK_RUNS in all), and one over LONG seconds is not repeated. Every
# run starts with `sync`, so no run pays for writing back what an earlier one left in the page
# cache (the references never fsync, and their gigabyte would land in our fsync's time).
measure() {
  local key=$1 prep="${2:+$2; }sync" cmd=$3 first rss n
  eval "$prep"
  /usr/bin/time -f '%e %M' -o "$RUN/time" bash -c "$cmd" >/dev/null 2>"$RUN/stderr" ||
    { say "failed: $cmd"; sed 's/^/  /' "$RUN/stderr" >&2; SEC[$key]=fail; return 0; }
  read -r first rss <"$RUN/time"
  RSS[$key]=$rss
  if awk -v t="$first" -v l="$LONG" 'BEGIN{exit !(t > l)}'; then
    SEC[$key]=$first; RUNS_OF[$key]=1; return 0
  fi
  local ts=() slow=
  n=$RUNS
  if awk -v t="$first" -v q="$QUICK" 'BEGIN{exit !(t > q)}'; then
    slow=1 n=$((QUICK_RUNS - 1)) ts=("$first")
  fi
  if [ -n "$HYPERFINE" ]; then
    rm -f "$RUN/h.json"
    hyperfine --shell=bash -r "$n" --prepare "$prep" --export-json "$RUN/h.json" --style none \
      "$cmd" >/dev/null 2>&1 || true
    mapfile -t -O ${#ts[@]} ts < <(jq -r '.results[0].times[]' "$RUN/h.json" 2>/dev/null || true)
  else
    local i
    for i in $(seq "$n"); do
      eval "$prep"
      /usr/bin/time -f '%e' -o "$RUN/time" bash -c "$cmd" >/dev/null 2>&1
      ts+=("$(cat "$RUN/time")")
    done
  fi
  if [ ${#ts[@]} -lt $((n + ${slow:-0})) ]; then SEC[$key]=fail; return 0; fi
  SEC[$key]=$(printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  RUNS_OF[$key]=${#ts[@]}
  say "$key: $(printf %.3f "${SEC[$key]}") s (median of ${#ts[@]})"
}

# startup KEY COMMAND: mean of many runs of a near-instant command, in seconds.
startup() {
  local key=$1 cmd=$2
  if [ -n "$HYPERFINE" ]; then
    rm -f "$RUN/h.json"
    hyperfine -N -w 10 -r 200 --export-json "$RUN/h.json" --style none "$cmd" >/dev/null 2>&1 || true
    SEC[$key]=$(jq -r '.results[0].median // "fail"' "$RUN/h.json" 2>/dev/null || echo fail)
  else
    local s e
    s=$(date +%s%N); for _ in $(seq 200); do $cmd >/dev/null; done; e=$(date +%s%N)
    SEC[$key]=$(awk -v a="$s" -v b="$e" 'BEGIN{print (b-a)/200/1e9}')
  fi
  RUNS_OF[$key]=200
}

F=$REL/d1-fetch
V=$REL/d1-verify
first_size=${SIZES%% *}
for s in $SIZES; do
  say "size $s: exporting"
  url=$(signed_url "bench-$s")
  dump=$RUN/dump-$s.sql
  curl -sf -o "$dump" "$url" || die "downloading the $s dump failed"
  DUMP_BYTES[$s]=$(stat -c %s "$dump")
  DB_BYTES[$s]=$(stat -c %s "$DATA/bench-$s.sqlite")
  say "size $s: dump is ${DUMP_BYTES[$s]} bytes"
  # Each figure's files are removed before every run, so no run appends to or skips over a
  # previous one's output.
  o=$RUN/out

  measure "floor:$s" "" "curl -s -o /dev/null '$url'"
  # What writing the dump's bytes durably costs on this disk: d1-fetch's floor, as it fsyncs.
  measure "disk:$s" "rm -f $o.dd" \
    "dd if=/dev/zero of=$o.dd bs=1M count=$(( (DUMP_BYTES[$s] + 1048575) / 1048576 )) conv=fsync status=none"
  measure "fetch-ref:$s" "rm -f $o.ref.sql $o.ref.sql.sha256" \
    "curl -s -o $o.ref.sql '$url' && sha256sum $o.ref.sql >$o.ref.sql.sha256"
  measure "zstd-ref:$s" "rm -f $o.ref.sql.zst" \
    "curl -s '$url' | tee >(sha256sum >/dev/null) | zstd -3 -T2 -q -o $o.ref.sql.zst"
  if [ -n "${HAVE[d1-fetch]:-}" ]; then
    measure "fetch:$s" "rm -f $o.sql $o.sql.sha256 $o.sql.json" "$F -q -o $o.sql '$url'"
    # The same bytes and hash as curl and sha256sum got, or the comparison means nothing.
    got=$(cut -d' ' -f1 "$o.sql.sha256" 2>/dev/null || true)
    want=$(cut -d' ' -f1 "$o.ref.sql.sha256" 2>/dev/null || true)
    if [ "$got" != "$want" ] || ! cmp -s "$o.sql" "$dump"; then
      say "d1-fetch's file or sha256 ($got) differs from curl's and sha256sum's ($want)"; SEC[fetch:$s]=fail
    fi
    measure "zstd:$s" "rm -f $o.sql.zst $o.sql.zst.sha256 $o.sql.zst.json" \
      "$F -q --zstd -o $o.sql.zst '$url'"
  fi
  rm -f "$o".*

  # The emulator's import API against sqlite3 reading the dump into a file in one transaction;
  # then the imported database is exported again and must give the same bytes.
  if [[ " ${BENCH_IMPORT_SIZES:-$first_size} " == *" $s "* ]]; then
    md5=$(md5sum "$dump" | cut -d' ' -f1)
    measure "import:$s" "" "import_fresh $dump $md5"
    if [ "${SEC[import:$s]}" != fail ]; then
      back=$(curl -sf "$(signed_url bench-import)" | md5sum | cut -d' ' -f1)
      [ "$back" = "$md5" ] || { say "the imported $s database exports differently"; SEC[import:$s]=fail; }
    fi
    measure "import-ref:$s" "rm -f $o.imp.db" "sqlite3 $o.imp.db 'BEGIN' '.read $dump' 'COMMIT'"
    rm -f "$o".* "$DATA/bench-import.sqlite"
  fi

  # d1-verify against sqlite3 reading the dump, and against sqlite3 running the checks d1-verify
  # runs too (it also digests every table); on both shapes.
  measure "verify-ref:$s" "" "sqlite3 :memory: '.read $dump'"
  measure "verify-checks-ref:$s" "" \
    "sqlite3 :memory: '.read $dump' 'PRAGMA integrity_check' 'PRAGMA foreign_key_check'"
  if [ -n "${HAVE[d1-verify]:-}" ]; then
    measure "verify:$s" "" "$V -q $dump"
  fi
  say "size $s: exporting the text shape"
  tdump=$RUN/dump-text-$s.sql
  curl -sf -o "$tdump" "$(signed_url "bench-text-$s")" || die "downloading the text $s dump failed"
  DUMP_BYTES[text-$s]=$(stat -c %s "$tdump")
  DB_BYTES[text-$s]=$(stat -c %s "$DATA/bench-text-$s.sqlite")
  measure "verify-ref:text-$s" "" "sqlite3 :memory: '.read $tdump'"
  measure "verify-checks-ref:text-$s" "" \
    "sqlite3 :memory: '.read $tdump' 'PRAGMA integrity_check' 'PRAGMA foreign_key_check'"
  if [ -n "${HAVE[d1-verify]:-}" ]; then
    # Its integers beyond 2^53 are warned about: the warnings go to stderr, as for a user.
    measure "verify:text-$s" "" "$V -q $tdump"
  fi
  rm -f "$tdump"
  if [ "$s" = "$first_size" ]; then
    # To a file, sqlite3 runs each INSERT of the dump (which has no BEGIN/COMMIT) as its own
    # fsynced transaction: hours for 100 MB. It gets DB_REF_SECONDS and the rest is
    # extrapolated from the rows it restored; the same restore inside one transaction is shown
    # beside it.
    rm -f "$o.ref.db"
    start=$(date +%s.%N)
    timeout "$DB_REF_SECONDS" sqlite3 "$o.ref.db" ".read $dump" >/dev/null 2>&1 || true
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
    done_rows=0 all_rows=0
    for t in users '"order items"' attachments; do
      done_rows=$((done_rows + $(sqlite3 "$o.ref.db" "SELECT count(*) FROM $t" 2>/dev/null || echo 0)))
      all_rows=$((all_rows + $(sqlite3 "$DATA/bench-$s.sqlite" "SELECT count(*) FROM $t")))
    done
    SEC[verify-db-ref:$s]=$(awk -v t="$took" -v d="$done_rows" -v a="$all_rows" 'BEGIN{ if (d < a) print t * a / (d > 0 ? d : 1); else print t }')
    RUNS_OF[verify-db-ref:$s]="1, extrapolated from $done_rows/$all_rows rows in ${took%.*} s"
    measure "verify-db-tx:$s" "rm -f $o.tx.db" "sqlite3 $o.tx.db 'BEGIN' '.read $dump' 'COMMIT'"
    if [ -n "${HAVE[d1-verify]:-}" ]; then
      measure "verify-db:$s" "rm -f $o.db" "$V -q --db $o.db $dump"
    fi
    rm -f "$o".*
  fi
  if [ -n "$MOTO" ]; then
    # A manifest without a verdict (--allow-unverified): the upload itself is what is measured.
    sha=$(sha256sum "$dump" | cut -d' ' -f1)
    echo "$sha  $(basename "$dump")" >"$dump.sha256"
    printf '{"sha256":"%s","database_id":null,"database_name":"bench"}\n' "$sha" >"$dump.json"
    # moto routes a request without an Authorization header by guessing the service from its
    # path, sometimes wrongly; an S3-shaped header (not checked) routes curl's PUT right.
    measure "upload-ref:$s" "" "curl -sf -T $dump -H 'Authorization: AWS4-HMAC-SHA256 \
      Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0' \
      $MOTO/bench/ref/$(basename "$dump")"
    measure "upload:$s" "" "AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
      AWS_ENDPOINT_URL=$MOTO $REL/d1-upload -q --allow-unverified s3://bench/d1/ $dump"
    rm -f "$dump.sha256" "$dump.json"
  fi
  rm -f "$dump"
done

say "startup and sizes"
for p in d1-export-start d1-export-wait d1-fetch d1-verify; do
  [ -n "${HAVE[$p]:-}" ] && startup "start:$p" "$REL/$p --version"
done
startup "start-ref:curl" "curl --version"
startup "start-ref:sqlite3" "sqlite3 -version"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - T0 ))

# --- the table ---------------------------------------------------------------------------------
ROWS=()
FAILS=0
# row FIGURE OURS REF RATIO TARGET VERDICT
row() { ROWS+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"$6"); [ "$6" = fail ] || [ "$6" = missing ] && FAILS=$((FAILS + 1)); return 0; }
fmt_s() { [ "$1" = fail ] && echo fail || awk -v t="$1" 'BEGIN{ if (t < 0.1) printf "%.2f ms", t*1000; else printf "%.2f s", t }'; }
fmt_mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k/1024}'; }
n_of() { [ "${RUNS_OF[$1]:-}" ] && echo " (n=${RUNS_OF[$1]})"; }

# speed FIGURE OURS_KEY REF_KEY MIN_RATIO: time rows, ratio = reference / ours (higher is faster).
speed() {
  local fig=$1 ok=$2 rk=$3 min=$4 o=${SEC[$2]:-} r=${SEC[$3]:-} ratio verdict
  if [ -z "$o" ]; then row "$fig" missing "$(fmt_s "$r")" - "≥ ${min}×" missing; return; fi
  if [ "$o" = fail ] || [ "$r" = fail ]; then row "$fig" "$(fmt_s "$o")" "$(fmt_s "$r")" - "≥ ${min}×" fail; return; fi
  ratio=$(awk -v o="$o" -v r="$r" 'BEGIN{printf "%.2f", r/o}')
  verdict=$(awk -v x="$ratio" -v m="$min" 'BEGIN{print (x >= m) ? "pass" : "fail"}')
  [ "$min" = info ] && verdict=info
  row "$fig" "$(fmt_s "$o")$(n_of "$ok")" "$(fmt_s "$r")$(n_of "$rk")" "${ratio}×" "$( [ "$min" = info ] && echo - || echo "≥ ${min}×")" "$verdict"
}

for s in $SIZES; do
  row "dump $s: bytes (database file)" "${DUMP_BYTES[$s]}" "(${DB_BYTES[$s]})" - - info
  speed "$s fetch vs curl -o + sha256sum" "fetch:$s" "fetch-ref:$s" 2.0
  speed "$s fetch --zstd vs curl|tee(sha256sum)|zstd -3 -T2" "zstd:$s" "zstd-ref:$s" 1.5
  speed "$s verify vs sqlite3 :memory: .read" "verify:$s" "verify-ref:$s" 2.0
  speed "$s verify vs sqlite3 :memory: .read + integrity_check + foreign_key_check" "verify:$s" "verify-checks-ref:$s" 2.5
  row "dump text $s: bytes (database file)" "${DUMP_BYTES[text-$s]}" "(${DB_BYTES[text-$s]})" - - info
  speed "text $s verify vs sqlite3 :memory: .read" "verify:text-$s" "verify-ref:text-$s" 2.0
  speed "text $s verify vs sqlite3 :memory: .read + integrity_check + foreign_key_check" "verify:text-$s" "verify-checks-ref:text-$s" 2.5
  if [ "$s" = "$first_size" ]; then
    speed "$s verify --db vs sqlite3 OUT .read" "verify-db:$s" "verify-db-ref:$s" info
    speed "$s verify --db vs sqlite3 OUT BEGIN .read COMMIT" "verify-db:$s" "verify-db-tx:$s" info
  fi
  [ -n "${SEC[import:$s]:-}" ] &&
    speed "$s emulator import API (re-export identical) vs sqlite3 OUT BEGIN .read COMMIT" "import:$s" "import-ref:$s" info
  [ "${SEC[import:$s]:-fail}" != fail ] && row "$s emulator import throughput" \
    "$(awk -v b="${DUMP_BYTES[$s]}" -v t="${SEC[import:$s]}" 'BEGIN{printf "%.1f MB/s", b/1048576/t}')" \
    "$(awk -v b="${DUMP_BYTES[$s]}" -v t="${SEC[import-ref:$s]}" 'BEGIN{printf "%.1f MB/s", b/1048576/t}')" - - info
  speed "$s emulator floor: curl -o /dev/null vs fetch" "floor:$s" "fetch:$s" info
  speed "$s disk floor: dd conv=fsync of as many bytes vs fetch" "disk:$s" "fetch:$s" info
  speed "$s upload (moto, parts of 64 MiB) vs curl -T the same bytes" "upload:$s" "upload-ref:$s" info
done
for s in $SIZES; do
  k=${RSS[fetch:$s]:-}
  row "$s fetch peak RSS (vs curl)" "$( [ -n "$k" ] && fmt_mb "$k" || echo missing)" "$(fmt_mb "${RSS[fetch-ref:$s]:-0}")" - "≤ 32 MB" \
    "$( [ -z "$k" ] && echo missing || awk -v k="$k" 'BEGIN{print (k <= 32*1024) ? "pass" : "fail"}')"
  k=${RSS[zstd:$s]:-}
  row "$s fetch --zstd peak RSS (vs zstd -T2)" "$( [ -n "$k" ] && fmt_mb "$k" || echo missing)" "$(fmt_mb "${RSS[zstd-ref:$s]:-0}")" - "≤ 32 MB" \
    "$( [ -z "$k" ] && echo missing || awk -v k="$k" 'BEGIN{print (k <= 32*1024) ? "pass" : "fail"}')"
  k=${RSS[upload:$s]:-}
  row "$s upload peak RSS (vs curl -T)" "$( [ -n "$k" ] && fmt_mb "$k" || echo missing)" "$(fmt_mb "${RSS[upload-ref:$s]:-0}")" - "≤ 32 MB" \
    "$( [ -z "$k" ] && echo missing || awk -v k="$k" 'BEGIN{print (k <= 32*1024) ? "pass" : "fail"}')"
  for key in "$s" "text-$s"; do
    k=${RSS[verify:$key]:-} r=${RSS[verify-ref:$key]:-0}
    row "${key/-/ } verify peak RSS (vs sqlite3 :memory:)" "$( [ -n "$k" ] && fmt_mb "$k" || echo missing)" "$(fmt_mb "$r")" \
      "$( [ -n "$k" ] && awk -v k="$k" -v r="$r" 'BEGIN{printf "%.2f×", k/r}' || echo -)" "≤ ref + 16 MB" \
      "$( [ -z "$k" ] && echo missing || awk -v k="$k" -v r="$r" 'BEGIN{print (k <= r + 16*1024) ? "pass" : "fail"}')"
  done
  k=${RSS[verify:$s]:-} r=${RSS[verify-ref:$s]:-0}
  # The database plus a constant: what is left over the restored database's own size.
  [ -n "$k" ] && row "$s verify peak RSS over the database file (sqlite3: the same)" \
    "$(awk -v k="$k" -v d="${DB_BYTES[$s]}" 'BEGIN{printf "%+.1f MB", k/1024 - d/1048576}')" \
    "$(awk -v k="$r" -v d="${DB_BYTES[$s]}" 'BEGIN{printf "%+.1f MB", k/1024 - d/1048576}')" - - info
done
# Flat memory: fetch's peak may not grow from the smallest to the largest dump.
last_size=${SIZES##* }
if [ "$first_size" != "$last_size" ] && [ -n "${RSS[fetch:$first_size]:-}" ]; then
  for f in fetch zstd upload; do
    [ -n "${RSS[$f:$first_size]:-}" ] || continue
    a=${RSS[$f:$first_size]} b=${RSS[$f:$last_size]:-0}
    row "$f peak RSS growth $first_size → $last_size" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%+.1f MB", (b-a)/1024}')" - - "≤ +4 MB" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN{print (b - a <= 4096) ? "pass" : "fail"}')"
  done
fi
for p in d1-export-start d1-export-wait d1-fetch d1-verify; do
  ref=curl; [ "$p" = d1-verify ] && ref=sqlite3
  o=${SEC[start:$p]:-}
  if [ -z "$o" ]; then row "startup $p --version" missing - - "< 5 ms" missing; continue; fi
  r=${SEC[start-ref:$ref]}
  row "startup $p --version (vs $ref)" "$(fmt_s "$o")" "$(fmt_s "$r")" "$(awk -v o="$o" -v r="$r" 'BEGIN{printf "%.2f×", r/o}')" "< 5 ms" \
    "$(awk -v o="$o" 'BEGIN{print (o < 0.005) ? "pass" : "fail"}')"
done
for p in d1-export-start d1-export-wait d1-fetch d1-verify d1-upload d1-emulator; do
  [ -f "$REL/$p" ] || continue
  ref=curl; [ "$p" = d1-verify ] && ref=sqlite3
  row "binary size $p (vs $ref, without its shared libraries)" "$(fmt_mb "$(( $(stat -c %s "$REL/$p") / 1024 ))")" \
    "$(fmt_mb "$(( $(stat -c %s "$(command -v $ref)") / 1024 ))")" - - info
done

{
  echo "d1-tools benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "sizes: $SIZES, load average at start $LOAD_START, at end $LOAD_END;"
  echo "$((SETUP + ELAPSED)) s in all: ${SETUP} s installing and building, ${ELAPSED} s generating, exporting and measuring;"
  echo "times are medians (n runs); ratio = reference / ours for times; RSS from /usr/bin/time -f %M."
  echo
  echo "| figure | ours | reference | ratio | target | result |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for r in "${ROWS[@]}"; do r=${r//|/\\|}; echo "| ${r//$'\t'/ | } |"; done
} >"$BENCH/results.md"
cat "$BENCH/results.md"
say "table also in $BENCH/results.md"
# Time Travel restore against a dump import of the same database (docs/bad-day.md): a script of
# its own, runnable alone (scripts/bench-timetravel.sh), on a copy of the first size's database;
# BENCH_TIMETRAVEL=0 leaves it out.
if [ "${BENCH_TIMETRAVEL:-1}" != 0 ]; then
  BENCH_TT_SIZE=$first_size scripts/bench-timetravel.sh || { say "the Time Travel figures failed"; FAILS=$((FAILS + 1)); }
fi
[ "$FAILS" = 0 ] || { say "$FAILS figure(s) missed a target or are missing"; exit 1; }
