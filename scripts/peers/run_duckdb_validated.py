#!/usr/bin/env python3
"""The DuckDB peer doing what `balgul run` does before it screens: validate every row of every
table against the data contract and the keys between tables (scripts/peers/validate_duckdb.sql),
then screen with policy_v1.sql exactly as run_duckdb.py does, on the same connection.

    run_duckdb_validated.py --data DIR [--as-of YYYY-MM-DD] [--cap 300] [--threads N]
                            [--counts FILE.csv] --out OUT.csv

--as-of defaults to `as_of` in DIR/extract.toml. Writes sgg_code,rank,person_id,score,cohorts
to OUT.csv (as run_duckdb.py). Prints the validation to stderr: per table the rows read, the
rows breaking any rule (what balgul would set aside) and every rule broken with its row count;
--counts writes every (table, rule, rows) — zero counts and the `(rows)` / `(set_aside)` lines
included — to a CSV.

Tables are read from DIR/<table>/*.parquet (the validation also takes DIR/<table>.parquet; the
screening does not); program_history may be absent. A missing table, or a missing column or one
of a type balgul would not cast to the contract's, stops the run (exit 3, as balgul). Rows that
break a rule are only reported: the screening reads the extract as it is (balgul would set them
aside; on a clean extract, such as the bench's, the two lists are the same).

--validate-only stops after the validation (scripts/peers/check_validated_peer.py uses it).
"""
import argparse
import csv
import os
import shutil
import string
import sys
import tempfile

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_duckdb import add_args, connect, resolve_as_of, screen, sql_str  # noqa: E402

# The contract's tables (src/contract.rs): columns and types, in contract order.
CONTRACT = {
    "persons": [("person_id", "str"), ("birth_year", "i32"), ("sex", "str"), ("sgg_code", "str"),
                ("insurance_type", "str"), ("income_decile", "i32"), ("disability", "bool"),
                ("death_date", "date")],
    "claims": [("claim_id", "str"), ("person_id", "str"), ("provider_id", "str"),
               ("provider_kind", "str"), ("care_type", "str"), ("start_date", "date"),
               ("end_date", "date"), ("cost_krw", "i64")],
    "diagnoses": [("claim_id", "str"), ("person_id", "str"), ("dx_code", "str"), ("dx_order", "i32")],
    "prescriptions": [("claim_id", "str"), ("person_id", "str"), ("ingredient_code", "str"),
                      ("start_date", "date"), ("days_supply", "i32")],
    "ltc_assessments": [("application_id", "str"), ("person_id", "str"), ("application_date", "date"),
                        ("status", "str"), ("decision_date", "date"), ("grade", "str"),
                        ("score", "f64"), ("valid_until", "date")],
    "ltc_services": [("person_id", "str"), ("service_month", "date"), ("service_type", "str"),
                     ("days", "i32"), ("cost_krw", "i64")],
    "program_history": [("person_id", "str"), ("sgg_code", "str"), ("event_month", "date"),
                        ("status", "str")],
}
OPTIONAL = {"program_history"}
DUCK_TYPE = {"str": "VARCHAR", "i32": "INTEGER", "i64": "BIGINT", "f64": "DOUBLE",
             "bool": "BOOLEAN", "date": "DATE"}
# The types a column may have in the files and be cast to its contract type without loss:
# balgul's `compatible` (src/extract/mod.rs) in DuckDB's names.
_SMALL_INTS = {"TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT"}
COMPATIBLE = {
    "str": {"VARCHAR"},  # and ENUM(...) (Polars' Categorical/Enum), below
    "i32": _SMALL_INTS,
    "i64": _SMALL_INTS | {"BIGINT", "UINTEGER"},
    "f64": _SMALL_INTS | {"FLOAT", "DOUBLE"},
    "bool": {"BOOLEAN"},
    "date": {"DATE"},
}


def compatible(want, found):
    return found in COMPATIBLE[want] or (want == "str" and found.startswith("ENUM("))


def fail(msg):
    print(f"run_duckdb_validated: {msg}", file=sys.stderr)
    sys.exit(3)


def source_views(con, data):
    """`src_<table>`: each table's contract columns cast to the contract types."""
    for table, columns in CONTRACT.items():
        d = os.path.join(data, table)
        if os.path.isdir(d):
            scan = f"read_parquet('{sql_str(d)}/*.parquet')"
        elif os.path.isfile(d + ".parquet"):
            d += ".parquet"
            scan = f"read_parquet('{sql_str(d)}')"
        elif os.path.exists(d + ".csv"):
            fail(f"{d}.csv: CSV tables are not supported (policy_v1.sql reads Parquet)")
        elif table in OPTIONAL:
            cols = ", ".join(f"NULL::{DUCK_TYPE[t]} AS {c}" for c, t in columns)
            con.execute(f"CREATE TEMP VIEW src_{table} AS SELECT {cols} WHERE false")
            continue
        else:
            fail(f"the extract in {data} has no `{table}` table (`{table}/` or `{table}.parquet`)")
        try:
            found = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        except duckdb.Error as e:
            fail(f"{d}: {e}")
        exprs = []
        for c, t in columns:
            if c not in found:
                fail(f"{d}: `{table}` has no column `{c}` ({t}); found: {', '.join(found)}")
            if not compatible(t, found[c]):
                fail(f"{d}: column `{table}.{c}` is {found[c]}, expected {t}")
            exprs.append(f'"{c}"' if found[c] == DUCK_TYPE[t] else f'CAST("{c}" AS {DUCK_TYPE[t]}) AS "{c}"')
        con.execute(f"CREATE TEMP VIEW src_{table} AS SELECT {', '.join(exprs)} FROM {scan}")


def rule_order(rule):
    # balgul's order within a table: row rules (as the SQL lists them), orphans, duplicates
    return {"orphan:claim_id": 1, "orphan:person_id": 2, "duplicate_key": 3,
            "(rows)": 4, "(set_aside)": 5}.get(rule, 0)


def validate(con, sql_path, as_of):
    with open(sql_path, encoding="utf-8") as f:
        sql = string.Template(f.read()).substitute(as_of=as_of)
    con.execute(sql)
    rows = con.execute("SELECT tbl, rule, rows FROM validation ORDER BY rowid").fetchall()
    con.execute("DROP TABLE validation")
    tables = list(CONTRACT)
    return sorted(((t, r, int(n)) for t, r, n in rows),
                  key=lambda x: (tables.index(x[0]), rule_order(x[1])))  # stable: keeps SQL order


def report(counts):
    by = {}
    for t, r, n in counts:
        by.setdefault(t, {})[r] = n
    bad = 0
    for t, rules in by.items():
        aside = rules.get("(set_aside)", 0)
        bad += aside
        broken = [f"{r} {n:,}" for r, n in rules.items() if n and not r.startswith("(")]
        print(f"validate: {t}: {rules.get('(rows)', 0):,} rows, {aside:,} break the contract"
              + (f" ({'; '.join(broken)})" if broken else ""), file=sys.stderr)
    if bad:
        print(f"validate: {bad:,} rows break the data contract (reported only: the screening "
              "reads every row)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    add_args(ap)
    ap.add_argument("--validate-sql", default=os.path.join(HERE, "validate_duckdb.sql"))
    ap.add_argument("--counts", help="write table,rule,rows for every rule to this CSV")
    ap.add_argument("--validate-only", action="store_true", help="validate, do not screen")
    ap.add_argument("--out")
    a = ap.parse_args()
    if not a.out and not a.validate_only:
        ap.error("--out is required (unless --validate-only)")
    as_of = resolve_as_of(a, "run_duckdb_validated")

    con = connect(a.threads)
    # where DuckDB spills past its memory limit (else ./.tmp in the working directory)
    spill = tempfile.mkdtemp(prefix="duckdbv-")
    try:
        con.execute(f"SET temp_directory = '{sql_str(spill)}'")

        # 1. validation
        source_views(con, os.path.abspath(a.data).rstrip("/"))
        counts = validate(con, a.validate_sql, as_of)
        report(counts)
        if a.counts:
            with open(a.counts, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["table", "rule", "rows"])
                w.writerows(counts)
        if a.validate_only:
            return

        # 2. screening: policy_v1.sql, as run_duckdb.py runs it
        screen(con, a, as_of)
        con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


if __name__ == "__main__":
    main()
