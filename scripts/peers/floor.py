#!/usr/bin/env python3
"""The read floor: read and decode, once, just the columns policy-v1 needs from each table,
and nothing else (no filter, join or group-by). DuckDB sums/counts over exactly those
columns so that every value is decoded; no engine can screen with less work than this.

    floor.py --data DIR [--threads N] [--all-columns]

--all-columns reads every column of every table instead: the least any engine that checks
every value against the data contract (as `balgul run` does) must decode.

Prints one line per table: rows and a checksum (so nothing is optimised away).
"""
import argparse
import os

import duckdb

# the columns the rules read (rules/default.toml, shared/spec/policy-v1.md), by table
COLUMNS = {
    "persons": ["person_id", "birth_year", "sgg_code", "insurance_type", "death_date"],
    "claims": ["claim_id", "person_id", "provider_kind", "care_type", "start_date", "end_date"],
    "diagnoses": ["claim_id", "dx_code"],
    "prescriptions": ["person_id", "ingredient_code", "start_date"],
    "ltc_assessments": ["application_id", "person_id", "application_date", "status", "decision_date", "grade"],
    "ltc_services": ["person_id", "service_month", "service_type"],
    "program_history": ["person_id", "event_month", "status"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--all-columns", action="store_true")
    a = ap.parse_args()
    con = duckdb.connect(":memory:")
    if a.threads:
        con.execute(f"SET threads = {int(a.threads)}")
    for table, cols in COLUMNS.items():
        glob = os.path.join(os.path.abspath(a.data), table, "*.parquet").replace("'", "''")
        types = dict(
            (r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()
        )
        if a.all_columns:
            cols = list(types)
        terms = []
        for c in cols:
            t = types[c].upper()
            if t == "VARCHAR":
                terms.append(f"sum(strlen({c}))")  # forces the string to be decoded
            elif t == "DATE":
                terms.append(f"sum(epoch_ms({c}) // 86400000)")
            elif t == "BOOLEAN":
                terms.append(f"sum({c}::INT)")
            else:
                terms.append(f"sum({c})")
        row = con.execute(f"SELECT count(*), {', '.join(terms)} FROM read_parquet('{glob}')").fetchall()[0]
        print(f"{table}\t{row[0]}\t{sum(int(v or 0) for v in row[1:])}")
    con.close()


if __name__ == "__main__":
    main()
