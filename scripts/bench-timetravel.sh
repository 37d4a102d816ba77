#!/usr/bin/env bash
# The two ways back for the same database (docs/bad-day.md), against d1-emulator on loopback:
# `d1-import --rewind` by Time Travel to the backup's bookmark, and the same command importing
# the dump once the window has passed (the emulator's `forget` fault). Both end with the same
# check (the tables and row counts read back equal the dump's); the bare API calls are timed too.
# The emulator's timings are not D1's: its restore is an SQLite online backup of a local file,
# D1's a rewind of its storage; its import runs the statements in-process, D1's over its network.
#
#   scripts/bench-timetravel.sh            the 100 MB `app` database (make bench runs this too)
#   BENCH_TT_SIZE=20M scripts/bench-timetravel.sh   another size (d1-bench-gen --size)
#
# Prints a small table (figure, seconds) and writes it to target/bench/timetravel.md. Uses the
# database make bench generates (target/bench/data/bench-SIZE.sqlite), generating it if absent.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${BENCH_TT_SIZE:-100M}
BENCH=target/bench
DATA=$BENCH/data
REL=target/release
say() { printf 'bench-timetravel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for c in curl jq; do command -v "$c" >/dev/null || die "missing: $c"; done

say "cargo build --release (d1-emulator, d1-bench and the pipeline's tools)"
cargo build --release -q -p d1-emulator -p d1-bench -p d1-export-start -p d1-export-wait \
  -p d1-fetch -p d1-verify -p d1-import
mkdir -p "$DATA"
src=$DATA/bench-$SIZE.sqlite
if [ ! -f "$src" ]; then
  say "generating $src"
  $REL/d1-bench-gen --shape app --size "$SIZE" --out "$src" >/dev/null
fi

RUN=$(mktemp -d "${TMPDIR:-/tmp}/bench-tt.XXXXXX")
EMU=
cleanup() {
  [ -z "$EMU" ] || { kill "$EMU" 2>/dev/null || true; wait "$EMU" 2>/dev/null || true; }
  rm -rf "$RUN"
}
trap cleanup EXIT
mkdir -p "$RUN/data" "$RUN/backups"
cp "$src" "$RUN/data/tt.sqlite"
TOKEN=bench-token
$REL/d1-emulator --data-dir "$RUN/data" --token "$TOKEN" --export-polls 0 --time-travel-snapshots 4 \
  >"$RUN/emulator.url" 2>"$RUN/emulator.log" &
EMU=$!
for _ in $(seq 200); do [ -s "$RUN/emulator.url" ] && break; sleep 0.05; done
BASE=$(head -n1 "$RUN/emulator.url")
[ -n "$BASE" ] || die "d1-emulator did not start: $(cat "$RUN/emulator.log")"
export CLOUDFLARE_API_TOKEN=$TOKEN CLOUDFLARE_ACCOUNT_ID=emulator-account \
  CLOUDFLARE_API_BASE_URL=$BASE D1_REQUEST_BUDGET=0 PATH="$PWD/$REL:$PATH"
API=$BASE/accounts/emulator-account/d1/database
AUTH=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
sql() { curl -sf -X POST "${AUTH[@]}" -d "$(jq -nc --arg s "$1" '{sql:$s}')" "$API/$ID/query" >/dev/null; }

say "backing up tt ($SIZE)"
t=$(now)
(cd "$RUN" && d1-export-start tt | d1-export-wait | d1-fetch -q -o backups/ > backup.rec)
BACKUP=$(since "$t")
ID=$(cut -d' ' -f1 "$RUN/backup.rec")
BM=$(jq -r .bookmark "$RUN/backups/"*.json)
[ "$BM" != null ] || die "the manifest has no bookmark"
bad_day() { sql "DELETE FROM \"order items\" WHERE rowid % 2 = 0; DROP TABLE IF EXISTS attachments"; }

# 1. The bare API call: one restore to the backup's bookmark.
bad_day
t=$(now)
curl -sf -X POST "${AUTH[@]}" "$API/$ID/time_travel/restore?bookmark=$BM" >/dev/null ||
  die "the restore call failed"
API_TT=$(since "$t")

# 2. What a user runs, Time Travel: the restore, then the check against the dump.
bad_day
t=$(now)
(cd "$RUN" && d1-import -q --rewind < backup.rec > tt.rec)
TOOL_TT=$(since "$t")
grep -q ' via=time-travel ' "$RUN/tt.rec" || die "Time Travel was not taken: $(cat "$RUN/tt.rec")"

# 3. The same command once the window has passed: the dump is imported (tables dropped first).
bad_day
curl -sf -X POST --data-binary 'time-travel:forget' "${BASE%/client/v4}/__emulator/faults" >/dev/null
t=$(now)
(cd "$RUN" && d1-import -q --rewind < backup.rec > imp.rec)
TOOL_IMPORT=$(since "$t")
grep -q ' via=import ' "$RUN/imp.rec" || die "the dump was not imported: $(cat "$RUN/imp.rec")"

DB_BYTES=$(stat -c %s "$src")
DUMP_BYTES=$(stat -c %s "$RUN/backups/"*.sql)
out=$BENCH/timetravel.md
{
  echo "| figure ($SIZE database: $DB_BYTES bytes, dump $DUMP_BYTES bytes) | seconds |"
  echo "|---|---|"
  echo "| backup (export, fetch) | $BACKUP |"
  echo "| Time Travel restore, the API call alone | $API_TT |"
  echo "| \`d1-import --rewind\` by Time Travel (restore + check against the dump) | $TOOL_TT |"
  echo "| \`d1-import --rewind\` importing the dump (window passed: drop, upload, import, check) | $TOOL_IMPORT |"
  echo
  echo "Against d1-emulator on loopback: its timings are not D1's (a restore there is an SQLite"
  echo "online backup of a local copy; an import runs in-process, without D1's network)."
} | tee "$out"
