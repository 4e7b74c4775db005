#!/usr/bin/env bash
# Peer benchmark for the performance issue: balgul against DuckDB (SQL), DuckDB validating the
# extract as balgul does before the same SQL, Polars (Python, lazy, streaming) and two read
# floors, on synthetic extracts. See docs/performance.md.
#
#   scripts/bench.sh                       # SCALES="100k 1m 3m" RUNS=5, builds the release binary
#   SCALES=100k RUNS=1 SKIP_BUILD=1 scripts/bench.sh
#
# Environment:
#   SCALES      extracts to run, by person count: 100k, 1m, 3m, 250k, … (default "100k 1m 3m")
#   RUNS        timed rounds per scale after the warm-up round (default 5)
#   SKIP_BUILD  1 = use target/release/balgul as it is (default: cargo build --release)
#   CAP         list length per municipality for the peers (default 300 = rules/default.toml)
#   KEEP        1 = keep the scratch directory with every output
#
# Per scale: generate bench-data/synth-<scale> if missing (balgul synth, seed 1, as of
# 2026-10-31, ages 65+); run each engine once and check that DuckDB, DuckDB+validate and
# Polars list exactly what balgul lists (scripts/peers/compare.py; a mismatch fails the
# script) — this round is also the warm-up; then RUNS rounds of every engine in alternation,
# each under /usr/bin/time -f "%e %M". Prints one Markdown table (medians, scripts/bench_table.py)
# and appends every timing to bench-data/bench-raw.tsv; `scripts/bench_table.py table --raw
# bench-data/bench-raw.tsv --commit C` prints the table of commit C's rounds from there again.
#
# The engines (their names in bench-raw.tsv):
#   balgul    `balgul run`: validates every row against the data contract and the keys between
#             tables (duplicates, orphans), hashes its inputs, screens, writes one file per
#             municipality and a manifest (its stages' times are in the manifest).
#   duckdb    policy-v1 as one DuckDB SQL script (scripts/peers/policy_v1.sql): the list only
#             (sgg_code, rank, person_id, score, cohorts), one CSV, no validation.
#   duckdbv   DuckDB+validate (scripts/peers/run_duckdb_validated.py): first counts, in DuckDB
#             SQL (scripts/peers/validate_duckdb.sql), the rows breaking each of balgul's
#             contract rules in every table and the keys between tables (exact, on the key
#             text), then runs the duckdb peer's SQL on the same connection — the like-for-like
#             peer of `balgul run`. Its counts are checked against balgul's manifest by
#             scripts/peers/check_validated_peer.py; it reports bad rows where balgul sets them
#             aside (the bench extracts have none).
#   polars    policy-v1 as a lazy Polars-Python script (scripts/peers/policy_v1.py): the list.
#   floor     DuckDB decoding once just the columns the rules read (scripts/peers/floor.py):
#             no screening can do less.
#   floorall  the same over every column of every table (floor.py --all-columns): no engine
#             that checks every value, as balgul and duckdbv do, can do less.
# Every engine uses all cores (DuckDB's and Polars' defaults).
#
# Peer versions are pinned here (the venv is bench-data/.venv):
DUCKDB_VERSION=2.0.0
POLARS_VERSION=2.1.0
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCALES=${SCALES:-"100k 1m 3m"}
RUNS=${RUNS:-5}
SKIP_BUILD=${SKIP_BUILD:-0}
CAP=${CAP:-300}
AS_OF=2026-10-31
BIN=$ROOT/target/release/balgul
RULES=$ROOT/rules/default.toml
VENV=$ROOT/bench-data/.venv
PY=$VENV/bin/python
PEERS=$ROOT/scripts/peers
RAW=$ROOT/bench-data/bench-raw.tsv
TIME=/usr/bin/time

die() { echo "bench.sh: $*" >&2; exit 1; }
[ -x "$TIME" ] || die "$TIME not found (apt-get install time)"

# ── build ──────────────────────────────────────────────────────────────────────────────────
if [ "$SKIP_BUILD" != 1 ]; then
  echo "== cargo build --release" >&2
  cargo build --release >&2
fi
[ -x "$BIN" ] || die "no $BIN (build it, or unset SKIP_BUILD)"

# ── peers' venv ────────────────────────────────────────────────────────────────────────────
if [ ! -x "$PY" ]; then
  echo "== creating $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
if ! "$PY" - "$DUCKDB_VERSION" "$POLARS_VERSION" <<'PYEOF' 2>/dev/null
import sys, duckdb, polars
sys.exit(0 if (duckdb.__version__, polars.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PYEOF
then
  echo "== installing duckdb==$DUCKDB_VERSION polars==$POLARS_VERSION into $VENV" >&2
  "$PY" -m pip install --quiet "duckdb==$DUCKDB_VERSION" "polars==$POLARS_VERSION" >&2
fi

scale_persons() {  # 100k -> 100000, 1m -> 1000000, 2.5m is not supported: use 2500k
  local s=${1,,}
  case "$s" in
    *k) echo $(( ${s%k} * 1000 )) ;;
    *m) echo $(( ${s%m} * 1000000 )) ;;
    *[0-9]) echo "$s" ;;
    *) die "bad scale $1" ;;
  esac
}

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/balgul-bench.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$SCRATCH"' EXIT; else echo "scratch: $SCRATCH" >&2; fi
RESULTS=$SCRATCH/results.tsv   # scale engine round wall_s rss_kb (this invocation)
ROWS=$SCRATCH/rows.tsv         # scale table rows
: > "$RESULTS"; : > "$ROWS"
[ -s "$RAW" ] || printf 'date\tcommit\thost\tscale\tengine\tround\twall_s\tpeak_rss_kb\tversions\n' > "$RAW"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock rules 2>/dev/null; then COMMIT="$COMMIT+dirty"; fi
VERSIONS="balgul=$("$BIN" --version 2>/dev/null | awk '{print $NF}');duckdb=$DUCKDB_VERSION;polars=$POLARS_VERSION;nproc=$(nproc)"

# the command for one engine, in CMD; $2 = extract dir, $3 = output (a directory for balgul,
# a CSV for the peers)
set_cmd() {
  local engine=$1 data=$2 out=$3
  case "$engine" in
    balgul) CMD=("$BIN" run --data "$data" --rules "$RULES" --out "$out" --max-bad-rows 100%) ;;
    duckdb) CMD=("$PY" "$PEERS/run_duckdb.py" --data "$data" --as-of "$AS_OF" --cap "$CAP" --out "$out") ;;
    duckdbv) CMD=("$PY" "$PEERS/run_duckdb_validated.py" --data "$data" --as-of "$AS_OF" --cap "$CAP" --out "$out") ;;
    polars) CMD=("$PY" "$PEERS/policy_v1.py" --data "$data" --as-of "$AS_OF" --cap "$CAP" --out "$out") ;;
    floor)  CMD=("$PY" "$PEERS/floor.py" --data "$data") ;;
    floorall) CMD=("$PY" "$PEERS/floor.py" --data "$data" --all-columns) ;;
  esac
}
out_of() {
  case "$1" in
    balgul) echo "$SCRATCH/$2-balgul" ;;
    floor|floorall) echo "$SCRATCH/$2-$1.txt" ;;
    *) echo "$SCRATCH/$2-$1.csv" ;;
  esac
}
# one timed run: appends to $RESULTS and $RAW
timed() {
  local scale=$1 engine=$2 round=$3 data=$4
  local out; out=$(out_of "$engine" "$scale")
  rm -rf "$out"   # outside the timing: balgul would replace an existing output
  set_cmd "$engine" "$data" "$out"
  local tf=$SCRATCH/time.txt log=$SCRATCH/$scale-$engine.log
  local rc=0
  "$TIME" -f "%e %M" -o "$tf" "${CMD[@]}" > "$log" 2>&1 || rc=$?
  local wall="" rss=""; read -r wall rss < <(grep -E '^[0-9.]+ [0-9]+$' "$tf" | tail -1) || true
  if [ "$rc" != 0 ]; then
    tail -20 "$log" >&2; cat "$tf" >&2
    # balgul must not fail; a peer that fails (e.g. killed for memory at a large scale) is
    # recorded as failed and dropped from this scale, and the run goes on
    [ "$engine" = balgul ] && die "balgul failed at $scale (exit $rc, log above): ${CMD[*]}"
    echo "bench.sh: $engine FAILED at $scale (exit $rc, ${wall:-?} s, peak RSS ${rss:-?} KB); dropped at this scale" >&2
    printf '%s\t%s\tfailed\t%s\t%s\n' "$scale" "$engine" "${wall:-0}" "${rss:-0}" >> "$RESULTS"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$COMMIT" "$(hostname)" \
      "$scale" "$engine" "$round:failed(exit $rc)" "${wall:-}" "${rss:-}" "$VERSIONS" >> "$RAW"
    FAILED="$FAILED $scale/$engine"
    return 0
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$scale" "$engine" "$round" "$wall" "$rss" >> "$RESULTS"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$COMMIT" "$(hostname)" \
    "$scale" "$engine" "$round" "$wall" "$rss" "$VERSIONS" >> "$RAW"
  echo "   $scale $engine round $round: ${wall} s, $((rss / 1024)) MB" >&2
}

ENGINES="balgul duckdb duckdbv polars floor floorall"
FAILED=""   # scale/engine pairs that failed; skipped for the rest of that scale
for scale in $SCALES; do
  n=$(scale_persons "$scale")
  data=$ROOT/bench-data/synth-$scale
  if [ ! -f "$data/extract.toml" ] || [ ! -d "$data/persons" ]; then
    echo "== generating $data ($n persons)" >&2
    rm -rf "$data" "$data.partial"   # an interrupted generation leaves no half extract behind
    "$BIN" synth --persons "$n" --seed 1 --as-of "$AS_OF" --min-age 65 --out "$data.partial" >&2
    mv "$data.partial" "$data"
  fi
  "$PY" "$ROOT/scripts/bench_table.py" rows "$data" >> "$ROWS"

  echo "== $scale: check round (also the warm-up)" >&2
  for engine in $ENGINES; do timed "$scale" "$engine" 0 "$data"; done
  ok=1
  for peer in duckdb duckdbv polars; do
    case " $FAILED " in *" $scale/$peer "*) continue ;; esac
    if ! "$PY" "$PEERS/compare.py" "$(out_of balgul "$scale")/candidates.csv" "$(out_of "$peer" "$scale")" --label "$peer" >&2; then
      ok=0
    fi
  done
  [ "$ok" = 1 ] || die "differential check failed at $scale: the peers do not list what balgul lists"

  echo "== $scale: $RUNS timed rounds" >&2
  for round in $(seq 1 "$RUNS"); do
    for engine in $ENGINES; do
      case " $FAILED " in *" $scale/$engine "*) continue ;; esac
      timed "$scale" "$engine" "$round" "$data"
    done
  done
done

# ── the table ──────────────────────────────────────────────────────────────────────────────
"$PY" "$ROOT/scripts/bench_table.py" table --results "$RESULTS" --rows "$ROWS" --scales "$SCALES" \
  --runs "$RUNS" --versions "$VERSIONS" --engines "$ENGINES"
echo "raw timings appended to ${RAW#$ROOT/}" >&2
if [ -n "$FAILED" ]; then
  echo "bench.sh: failed and left out:$FAILED" >&2
  exit 2
fi
