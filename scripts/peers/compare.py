#!/usr/bin/env python3
"""Differential check: balgul's candidates.csv against a peer's CSV.

    compare.py BALGUL_CANDIDATES.csv PEER.csv [--label NAME] [--show 10]

Both files need the columns sgg_code, rank, person_id, score, cohorts (cohorts ';'-separated
ids, compared as a set). Rows are matched on (sgg_code, rank) and must agree on person_id,
score and the cohort set; a row in only one file is a mismatch too. Prints the first
differences and exits 1 on any mismatch, 0 when the lists are identical.
"""
import argparse
import csv
import sys

COLS = ("sgg_code", "rank", "person_id", "score", "cohorts")


def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        missing = [c for c in COLS if c not in (r.fieldnames or [])]
        if missing:
            sys.exit(f"compare: {path}: missing column(s) {', '.join(missing)}")
        rows = {}
        for n, row in enumerate(r, start=2):
            key = (row["sgg_code"], int(row["rank"]))
            if key in rows:
                sys.exit(f"compare: {path}:{n}: duplicate (sgg_code, rank) {key}")
            cohorts = tuple(sorted(c for c in row["cohorts"].split(";") if c))
            rows[key] = (row["person_id"], int(float(row["score"])), cohorts)
        return rows


def fmt(v):
    if v is None:
        return "(absent)"
    pid, score, cohorts = v
    return f"{pid} score={score} cohorts={';'.join(cohorts)}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("balgul")
    ap.add_argument("peer")
    ap.add_argument("--label", default="peer")
    ap.add_argument("--show", type=int, default=10)
    a = ap.parse_args()

    b, p = load(a.balgul), load(a.peer)
    diffs = []
    for key in sorted(set(b) | set(p)):
        if b.get(key) != p.get(key):
            diffs.append((key, b.get(key), p.get(key)))

    # persons listed by one side only (independent of rank shifts)
    bp = {v[0] for v in b.values()}
    pp = {v[0] for v in p.values()}
    only_b, only_p = sorted(bp - pp), sorted(pp - bp)

    if not diffs:
        print(f"compare[{a.label}]: identical: {len(b)} rows in "
              f"{len({k[0] for k in b})} municipalities")
        return 0
    print(f"compare[{a.label}]: MISMATCH: {len(diffs)} of {len(set(b) | set(p))} "
          f"(sgg_code, rank) rows differ; balgul {len(b)} rows, {a.label} {len(p)} rows; "
          f"persons only in balgul: {len(only_b)}, only in {a.label}: {len(only_p)}")
    for key, bv, pv in diffs[: a.show]:
        print(f"  {key[0]} #{key[1]}: balgul {fmt(bv)} | {a.label} {fmt(pv)}")
    if only_b:
        print(f"  only in balgul: {' '.join(only_b[: a.show])}")
    if only_p:
        print(f"  only in {a.label}: {' '.join(only_p[: a.show])}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
