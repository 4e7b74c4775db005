#!/usr/bin/env python3
"""Run scripts/peers/policy_v1.sql (policy-v1 in DuckDB SQL) over an extract.

    run_duckdb.py --data DIR [--as-of YYYY-MM-DD] [--cap 300] [--threads N] --out OUT.csv

--as-of defaults to `as_of` in DIR/extract.toml. Writes sgg_code,rank,person_id,score,cohorts.
"""
import argparse
import os
import re
import string
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))


def as_of_from_extract(data):
    path = os.path.join(data, "extract.toml")
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r'\s*as_of\s*=\s*"(\d{4}-\d{2}-\d{2})"', line)
                if m:
                    return m.group(1)
    except FileNotFoundError:
        pass
    sys.exit(f"run_duckdb: no --as-of and no as_of in {path}")


def sql_str(s):
    return s.replace("'", "''")


def add_args(ap):
    """The arguments every DuckDB peer takes (run_duckdb_validated.py adds its own)."""
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of")
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--sql", default=os.path.join(HERE, "policy_v1.sql"))


def resolve_as_of(a, prog):
    """--as-of, or the extract's as_of; exits on a malformed date."""
    as_of = a.as_of or as_of_from_extract(a.data)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of):
        sys.exit(f"{prog}: bad --as-of {as_of!r}")
    return as_of


def connect(threads):
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    return con


def screen(con, a, as_of):
    """Runs policy_v1.sql (a.sql) on `con`: the list to a.out."""
    with open(a.sql, encoding="utf-8") as f:
        sql = string.Template(f.read()).substitute(
            data=sql_str(os.path.abspath(a.data).rstrip("/")),
            as_of=as_of,
            cap=int(a.cap),
            out=sql_str(os.path.abspath(a.out)),
        )
    con.execute(sql)


def main():
    ap = argparse.ArgumentParser()
    add_args(ap)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    as_of = resolve_as_of(a, "run_duckdb")
    con = connect(a.threads)
    screen(con, a, as_of)
    con.close()


if __name__ == "__main__":
    main()
