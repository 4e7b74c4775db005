#!/usr/bin/env python3
"""The tables of scripts/bench.sh: rows per table of an extract, and the Markdown table of
medians.

    bench_table.py rows DIR                      # scale<TAB>table<TAB>rows, from the footers
    bench_table.py table --results RESULTS.tsv --rows ROWS.tsv --scales "100k 1m" --runs 5 \
                         --versions V --engines "balgul duckdb ..."
    bench_table.py table --raw bench-data/bench-raw.tsv --commit 945732a [--scales ...]

`table --results` is what bench.sh prints at its end (RESULTS: scale, engine, round, wall_s,
rss_kb of one invocation; ROWS: the `rows` lines of each extract). `table --raw` builds the same
table again from bench-data/bench-raw.tsv's rounds of one commit (e.g. of an invocation cut
short and finished by hand), with the rows per table read from bench-data/synth-<scale>.
Round 0 (the check round, also the warm-up) and failed rounds never count. Needs duckdb (the
bench venv's python) for `rows`, and for `table --raw`.
"""
import argparse
import os
import statistics
import sys

TABLES = ["persons", "claims", "diagnoses", "prescriptions", "ltc_assessments", "ltc_services",
          "program_history"]
SHORT = {"persons": "persons", "claims": "claims", "diagnoses": "dx", "prescriptions": "rx",
         "ltc_assessments": "assess", "ltc_services": "services", "program_history": "history"}
# engine (as bench.sh and bench-raw.tsv name it) -> column title
TITLES = {"balgul": "balgul", "duckdb": "DuckDB", "duckdbv": "DuckDB+validate",
          "polars": "Polars", "floor": "floor", "floorall": "floor, all columns"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rows_of(data):
    """(scale, table, rows) for the extract in `data`, from its Parquet footers."""
    import duckdb
    con = duckdb.connect()
    scale = os.path.basename(data.rstrip("/")).removeprefix("synth-")
    out = []
    for t in TABLES:
        n = 0
        if os.path.isdir(os.path.join(data, t)):
            g = os.path.join(data, t, "*.parquet").replace("'", "''")
            n = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata('{g}')").fetchall()[0][0]
        out.append((scale, t, int(n or 0)))
    return out


def gb(kb):
    return f"{kb / 1024 / 1024:.2f} GB" if kb >= 1024 * 1024 else f"{kb / 1024:.0f} MB"


def table(timings, failed, nrows, scales, runs, versions, engines):
    """timings: (scale, engine) -> [(wall_s, rss_kb)] of the timed rounds."""
    def med(scale, engine):
        v = timings.get((scale, engine), [])
        if not v:
            return None, None, 0
        return statistics.median(w for w, _ in v), statistics.median(r for _, r in v), len(v)

    peers = [e for e in engines if e != "balgul"]
    print(f"\nMedian of {runs} run(s) after a warm-up; {versions}.\n")
    print("| scale | rows per table | " + " | ".join(TITLES[e] for e in engines) + " | "
          + " | ".join(f"balgul ÷ {TITLES[e]}" for e in peers) + " |")
    print("|---|---|" + "---|" * (len(engines) + len(peers)))
    for scale in scales:
        rs = nrows.get(scale, [])
        rtxt = ", ".join(f"{SHORT[tb]} {n:,}" for tb, n in rs) + f" (all {sum(n for _, n in rs):,})"
        m = {e: med(scale, e) for e in engines}
        cells = []
        for e, (w, r, n) in m.items():
            if w is None:
                cells.append("failed" if (scale, e) in failed else "–")
            else:
                cells.append(f"{w:.2f} s, {gb(r)}" + ("" if n == runs else f" (of {n})"))
        bw, br, _ = m.get("balgul", (None, None, 0))
        ratios = []
        for e in peers:
            w, r, _ = m[e]
            ratios.append(f"{bw / w:.2f}× time, {br / r:.2f}× RSS" if w and bw is not None else "–")
        print(f"| {scale} | {rtxt} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rows")
    r.add_argument("data")
    t = sub.add_parser("table")
    t.add_argument("--results")
    t.add_argument("--rows")
    t.add_argument("--raw")
    t.add_argument("--commit")
    t.add_argument("--scales", default="100k 1m 3m")
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--versions", default="")
    t.add_argument("--engines", default=" ".join(TITLES))
    a = ap.parse_args()

    if a.cmd == "rows":
        for scale, tb, n in rows_of(a.data):
            print(f"{scale}\t{tb}\t{n}")
        return

    scales = a.scales.split()
    engines = a.engines.split()
    timings, failed, nrows = {}, set(), {}
    if a.raw:
        if not a.commit:
            ap.error("--raw needs --commit")
        versions = set()
        with open(a.raw, encoding="utf-8") as f:
            next(f)  # the header
            for line in f:
                _, commit, _, scale, engine, rnd, wall, rss, ver = line.rstrip("\n").split("\t")
                if commit != a.commit or scale not in scales or engine not in engines:
                    continue
                versions.add(ver)
                if not rnd.isdigit():
                    failed.add((scale, engine))
                elif rnd != "0":
                    timings.setdefault((scale, engine), []).append((float(wall), int(rss)))
        if not timings:
            sys.exit(f"bench_table: no timed rounds of commit {a.commit} in {a.raw}")
        a.versions = a.versions or "; ".join(sorted(versions))
        for scale in scales:
            data = os.path.join(ROOT, "bench-data", f"synth-{scale}")
            if os.path.isdir(data):
                nrows[scale] = [(tb, n) for _, tb, n in rows_of(data)]
    else:
        if not (a.results and a.rows):
            ap.error("give --results and --rows (bench.sh), or --raw and --commit")
        with open(a.results, encoding="utf-8") as f:
            for line in f:
                scale, engine, rnd, wall, rss = line.rstrip("\n").split("\t")
                if rnd == "failed":
                    failed.add((scale, engine))
                elif rnd != "0":
                    timings.setdefault((scale, engine), []).append((float(wall), int(rss)))
        with open(a.rows, encoding="utf-8") as f:
            for line in f:
                scale, tb, n = line.rstrip("\n").split("\t")
                nrows.setdefault(scale, []).append((tb, int(n)))
    table(timings, failed, nrows, scales, a.runs, a.versions, engines)


if __name__ == "__main__":
    main()
