#!/usr/bin/env bash
# A full disk while the lists are written: `balgul run` must fail with the path and the
# cause, exit non-zero, leave no partial output directory, and leave the previous output
# (from a run that fitted) intact.
#
# Needs root (it mounts a small tmpfs); not part of `cargo test` for that reason.
#   sudo scripts/full-disk.sh            # builds target/release/balgul if missing
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/balgul ] || cargo build --release --quiet
bin=$PWD/target/release/balgul
mnt=$(mktemp -d)
trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
# 800 KiB: room for one run on fixtures/sample (~510 KiB) but not for a second beside it.
mount -t tmpfs -o size=800k tmpfs "$mnt"

"$bin" run --data fixtures/sample --rules rules/default.toml --out "$mnt/out" >/dev/null 2>&1
before=$(cd "$mnt/out" && find . -type f -exec sha256sum {} + | sort | sha256sum)
echo "first run fitted: $(du -sk "$mnt/out" | cut -f1) KiB"

set +e
"$bin" run --data fixtures/sample --rules rules/default.toml --out "$mnt/out" --force \
    >"$mnt/../full-disk.stdout" 2>"$mnt/../full-disk.stderr"
code=$?
set -e
msg=$(cat "$mnt/../full-disk.stderr")
rm -f "$mnt/../full-disk.stdout" "$mnt/../full-disk.stderr"
fail() { echo "FAIL: $*"; echo "--- stderr:"; echo "$msg"; exit 1; }

[ "$code" -ne 0 ] || fail "the second run exited 0 on a full disk"
[ "$code" -ne 101 ] || fail "the second run panicked"
grep -q "No space left on device" <<<"$msg" || fail "the message does not say the disk is full"
grep -q "$mnt" <<<"$msg" || fail "the message does not name the path"
after=$(cd "$mnt/out" && find . -type f -exec sha256sum {} + | sort | sha256sum)
[ "$before" = "$after" ] || fail "the previous output changed"
left=$(find "$mnt" -mindepth 1 -maxdepth 1 ! -name out | wc -l)
[ "$left" -eq 0 ] || fail "a partial directory was left: $(ls -a "$mnt")"
echo "exit $code; previous output intact; nothing partial left"
echo "message: $(grep -m1 'No space' <<<"$msg")"
echo "PASS"
