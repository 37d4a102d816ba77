#!/usr/bin/env bash
# d1-retention.sh DIR DAILY WEEKLY : prune dumps in DIR, keeping DAILY days and WEEKLY weeks.
set -euo pipefail
dir=$1 daily=$2 weekly=$3
declare -A keep_day keep_week
days=0 weeks=0
# Newest first; the timestamp is the part after the last '-' in the name.
for f in $(ls "$dir" | grep -E -- '-[0-9]{8}T[0-9]{6}Z\.sql(\.zst)?$' | awk -F- '{print $NF" "$0}' | sort -r | cut -d' ' -f2-); do
  stamp=$(echo "$f" | grep -oE '[0-9]{8}T[0-9]{6}Z')
  day=${stamp:0:8}
  week=$(date -u -d "${day:0:4}-${day:4:2}-${day:6:2}" +%G-W%V)
  keep=no
  if [ -z "${keep_day[$day]:-}" ] && [ "$days" -lt "$daily" ]; then keep_day[$day]=1; days=$((days+1)); keep=yes; fi
  if [ -z "${keep_week[$week]:-}" ] && [ "$weeks" -lt "$weekly" ]; then keep_week[$week]=1; weeks=$((weeks+1)); keep=yes; fi
  if [ "$keep" = no ]; then
    rm -f "$dir/$f" "$dir/$f.sha256" "$dir/$f.json"
    echo "removed $f"
  fi
done
