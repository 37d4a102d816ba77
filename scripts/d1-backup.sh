#!/usr/bin/env bash
# d1-backup.sh DB... : back up and verify each database, prune old dumps; alert on failure.
set -uo pipefail
BACKUP_DIR=${BACKUP_DIR:-/var/backups/d1}
LOG=${LOG:-$BACKUP_DIR/backup.log}
ALERT=${ALERT:-logger -t d1-backup}     # e.g. a curl to your pager's webhook
KEEP=${KEEP:---keep-daily 14 --keep-weekly 8}   # d1-prune's policy
mkdir -p "$BACKUP_DIR"

exec 9>"$BACKUP_DIR/.lock"
if ! flock -n 9; then
  echo "$(date -u +%FT%TZ) previous backup still running, skipping" >>"$LOG"
  exit 0
fi

status=0
for db in "$@"; do
  mkdir -p "$BACKUP_DIR/$db"
  {
    echo "$(date -u +%FT%TZ) backing up $db"
    d1-export-start -q "$db" | d1-export-wait -q | d1-fetch -q --zstd -o "$BACKUP_DIR/$db/" | d1-verify
  } >>"$LOG" 2>&1
  rc=$?   # with pipefail: the last failing stage's code
  if [ "$rc" -ne 0 ]; then
    kind=failed; [ "$rc" -eq 75 ] && kind="temporarily failed (will retry next run)"
    $ALERT "d1 backup of $db $kind (exit $rc), see $LOG"
    status=$rc
  fi
done

# Retention, once the night's dumps are written and verified: per database, only verified dumps
# count, and the newest verified dump of each database is never removed (see d1-prune).
# $KEEP unquoted on purpose: it is several options.
d1-prune -q --allow-empty $KEEP -r "$BACKUP_DIR" >>"$LOG" 2>&1 || {
  rc=$?
  $ALERT "d1 backup retention failed (exit $rc), see $LOG"
  status=$rc
}
exit "$status"
