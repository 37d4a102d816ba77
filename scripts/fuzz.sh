#!/usr/bin/env bash
# make fuzz: a short, bounded libFuzzer run of each target (FUZZ_SECONDS each, default 60).
# Not part of make test. A crash is copied to fuzz/regressions/TARGET/, where a unit test replays
# it forever after; fix it, then commit the input.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
# cargo fuzz needs nightly-only compiler flags; the stable toolchain accepts them when asked to
# bootstrap (no other toolchain can be installed here).
if ! rustc --version | grep -q nightly; then export RUSTC_BOOTSTRAP=1; fi

status=0
targets=$(cargo fuzz list)
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"
  echo "fuzzing $t for ${secs}s"
  # Seed the corpus with the kept regressions so the run starts from known edge cases.
  cp -n fuzz/regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
  if ! cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=512 -max_len=200000 2>&1 | tee "/tmp/fuzz-$t.log" | grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|==[0-9]+==|SUMMARY)'; then
    status=1
  fi
  for crash in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/timeout-*; do
    [ -e "$crash" ] || continue
    cp "$crash" "fuzz/regressions/$t/"
    echo "NEW FINDING kept as fuzz/regressions/$t/$(basename "$crash")"
    status=1
  done
done
exit $status
