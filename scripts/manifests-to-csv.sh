#!/bin/sh
# manifests-to-csv.sh [DIR...]: the manifests d1-fetch writes beside each dump (DUMP.json) as
# CSV, one row per dump, oldest first, to plot export time and dump size over time. Needs jq.
# Dumps fetched without `d1-export-wait --json` upstream have an empty export_elapsed_seconds.
set -eu
[ $# -gt 0 ] || set -- .
rows=$(find "$@" -maxdepth 1 -type f -name '*.json' -exec jq -r '
  select(type == "object" and has("d1_fetch_version"))
  | [.fetched_at, .database_id, .export_elapsed_seconds, .stored_bytes, .sql_bytes]
  | map(if . == null then "" else tostring end) | join(",")' {} +)
echo fetched_at,database_id,export_elapsed_seconds,stored_bytes,sql_bytes
if [ -n "$rows" ]; then printf '%s\n' "$rows" | sort; fi
