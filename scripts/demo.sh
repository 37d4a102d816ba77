#!/usr/bin/env bash
# make demo: start d1-emulator with its sample database, run the whole pipeline
#   d1-export-start | d1-export-wait | d1-fetch | d1-verify
# against it, and show the verified backup. Nothing here talks to Cloudflare.
set -euo pipefail
bindir=${1:-target/debug}
PATH="$PWD/$bindir:$PATH"
out=demo-out
mkdir -p "$out"

data=$(mktemp -d)
urlfile="$data/url"
# The emulator prints its base URL once it listens; keep it running in the background.
d1-emulator --data-dir "$data" --seed-sample --token demo-token >"$urlfile" &
emu=$!
trap 'kill "$emu" 2>/dev/null; wait "$emu" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do [ -s "$urlfile" ] && break; sleep 0.05; done

export CLOUDFLARE_API_BASE_URL=$(head -n1 "$urlfile")
export CLOUDFLARE_ACCOUNT_ID=emulator-account
export CLOUDFLARE_API_TOKEN=demo-token
echo "emulator at $CLOUDFLARE_API_BASE_URL" >&2

# One pipeline, no pauses: the bookmark and the signed URL are perishable.
# d1-verify prints one line per dump: OK path tables=N rows=M (or a FAIL record), and keeps its
# verdict in the dump's manifest (d1-verify --json prints the full report: tables with row
# counts and content digests, indexes, views, triggers).
# (--json from d1-export-wait carries the export's duration into the manifest, see docs/monitoring.md)
d1-export-start sample | d1-export-wait --json | d1-fetch --zstd -o "$out/" | d1-verify

echo "backup written to $out/ (dump, .sha256 sidecar, .json manifest):" >&2
ls -l "$out" >&2
echo "the manifest, with d1-verify's verdict under \"verification\":" >&2
cat "$out"/*.json >&2
