#!/usr/bin/env python3
"""Cross-check of the validated DuckDB peer (run_duckdb_validated.py, validate_duckdb.sql)
against `balgul run`: both must count the same rows for every table and rule of extracts with
bad rows.

    check_validated_peer.py [--bin target/release/balgul] [--validate-sql FILE] [--keep]

Builds small synthetic extracts (`balgul synth --persons 2000 --seed 3`) in a temporary
directory, corrupts rows of every table with DuckDB (one scenario each, below), writes each
table back as DIR/<table>/part-*.parquet, then runs
`balgul run --max-bad-rows 100% --force` and `run_duckdb_validated.py --validate-only --counts`
and compares, per table, balgul's manifest.json `rows_set_aside` (rows, rows_set_aside and
every rule's rows) with the peer's counts. Prints both side by side; exits 1 on any mismatch.
Run it with the bench venv's python (bench-data/.venv/bin/python): it needs duckdb.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
AS_OF = "2026-10-31"
TABLES = ["persons", "claims", "diagnoses", "prescriptions", "ltc_assessments", "ltc_services",
          "program_history"]


def nth(table, cond, k=0):
    """The rowid of the k-th row (from 0, in file order) of `table` where `cond` holds."""
    return f"(SELECT rowid FROM {table} WHERE {cond} ORDER BY rowid LIMIT 1 OFFSET {k})"


# Each scenario: SQL run on the tables loaded as DuckDB tables (named as the contract's), then
# `drop` (tables left out) and `types` (columns cast on the way out, to a type balgul casts
# silently). Comments say which rule each statement should break and how the rows interact.
SCENARIOS = {
    # every row rule, at least once; rows breaking two rules; the key rules' interactions
    "rules": {
        "sql": f"""
-- persons
UPDATE persons SET person_id = NULL        WHERE rowid = {nth('persons', 'true', 0)};   -- null:person_id: its rows elsewhere become orphans
UPDATE persons SET person_id = ''          WHERE rowid = {nth('persons', 'true', 1)};   -- empty:person_id (+ orphans)
UPDATE persons SET birth_year = NULL       WHERE rowid = {nth('persons', 'true', 2)};   -- null:birth_year
UPDATE persons SET birth_year = 1889       WHERE rowid = {nth('persons', 'true', 3)};   -- range:birth_year
UPDATE persons SET birth_year = 2027       WHERE rowid = {nth('persons', 'true', 4)};   -- range:birth_year (as_of year + 1)
UPDATE persons SET birth_year = 1890       WHERE rowid = {nth('persons', 'true', 5)};   -- ok: the bound
UPDATE persons SET sex = 'X', insurance_type = 'NHIS' WHERE rowid = {nth('persons', 'true', 6)}; -- enum:sex + enum:insurance_type, one row
UPDATE persons SET sex = NULL              WHERE rowid = {nth('persons', 'true', 7)};   -- null:sex only (not enum:sex)
UPDATE persons SET insurance_type = NULL   WHERE rowid = {nth('persons', 'true', 8)};   -- null:insurance_type
UPDATE persons SET sgg_code = '1111'       WHERE rowid = {nth('persons', 'true', 9)};   -- format:sgg_code
UPDATE persons SET sgg_code = '1111O'      WHERE rowid = {nth('persons', 'true', 10)};  -- format:sgg_code (letter O)
UPDATE persons SET sgg_code = NULL         WHERE rowid = {nth('persons', 'true', 11)};  -- ok: unknown residence
UPDATE persons SET income_decile = 0       WHERE rowid = {nth('persons', 'true', 12)};  -- range:income_decile
UPDATE persons SET income_decile = 11      WHERE rowid = {nth('persons', 'true', 13)};  -- range:income_decile
UPDATE persons SET disability = NULL       WHERE rowid = {nth('persons', 'true', 14)};  -- null:disability
UPDATE persons SET death_date = DATE '1899-12-31' WHERE rowid = {nth('persons', 'true', 15)}; -- date_range:death_date
UPDATE persons SET death_date = DATE '2036-01-02' WHERE rowid = {nth('persons', 'true', 16)}; -- date_range:death_date
UPDATE persons SET death_date = DATE '2036-01-01' WHERE rowid = {nth('persons', 'true', 17)}; -- ok: the bound
-- duplicate_key: person 20 twice (both set aside, their rows elsewhere orphans); person 21
-- twice but one copy breaks a row rule (the other is kept: no duplicate)
INSERT INTO persons SELECT * FROM persons WHERE rowid = {nth('persons', 'true', 20)};
INSERT INTO persons SELECT * REPLACE ('Z' AS sex) FROM persons WHERE rowid = {nth('persons', 'true', 21)};

-- claims
UPDATE claims SET claim_id = NULL          WHERE rowid = {nth('claims', 'true', 0)};    -- null:claim_id: its diagnoses orphan:claim_id
UPDATE claims SET claim_id = ''            WHERE rowid = {nth('claims', 'true', 1)};    -- empty:claim_id
UPDATE claims SET person_id = NULL         WHERE rowid = {nth('claims', 'true', 5)};    -- null:person_id
UPDATE claims SET person_id = 'Pnobody'    WHERE rowid = {nth('claims', 'true', 6)};    -- orphan:person_id (diagnoses then orphan:claim_id)
UPDATE claims SET provider_id = ''         WHERE rowid = {nth('claims', 'true', 7)};    -- empty:provider_id
UPDATE claims SET provider_id = NULL       WHERE rowid = {nth('claims', 'true', 8)};    -- null:provider_id
UPDATE claims SET provider_kind = '99', cost_krw = -1 WHERE rowid = {nth('claims', 'true', 9)}; -- enum:provider_kind + negative:cost_krw
UPDATE claims SET provider_kind = NULL     WHERE rowid = {nth('claims', 'true', 10)};   -- null:provider_kind
UPDATE claims SET care_type = 'HOME'       WHERE rowid = {nth('claims', 'true', 11)};   -- enum:care_type
UPDATE claims SET care_type = NULL, end_date = end_date + 3 WHERE rowid = {nth('claims', "care_type = 'OUT'", 12)}; -- null:care_type (end_not_start: null care type, no break)
UPDATE claims SET start_date = NULL        WHERE rowid = {nth('claims', "care_type = 'IN'", 0)}; -- null:start_date (end_not_start: IN)
UPDATE claims SET start_date = DATE '1899-01-01', end_date = DATE '1899-01-01' WHERE rowid = {nth('claims', "care_type = 'OUT'", 13)}; -- date_range:start_date + date_range:end_date
UPDATE claims SET end_date = start_date - 1 WHERE rowid = {nth('claims', "care_type = 'IN' AND end_date IS NOT NULL", 1)}; -- end_before_start
UPDATE claims SET end_date = start_date - 1 WHERE rowid = {nth('claims', "care_type = 'OUT'", 14)}; -- end_before_start + end_not_start
UPDATE claims SET end_date = NULL          WHERE rowid = {nth('claims', "care_type = 'ER'", 0)};  -- end_not_start (null end, not IN)
UPDATE claims SET end_date = start_date + 1 WHERE rowid = {nth('claims', "care_type = 'RX'", 0)}; -- end_not_start
UPDATE claims SET end_date = NULL          WHERE rowid = {nth('claims', "care_type = 'IN' AND end_date IS NOT NULL", 2)}; -- ok: still admitted
UPDATE claims SET cost_krw = NULL          WHERE rowid = {nth('claims', 'true', 15)};   -- null:cost_krw
UPDATE claims SET cost_krw = 0             WHERE rowid = {nth('claims', 'true', 16)};   -- ok
-- duplicate_key: claim 30's id given to claim 31 (both set aside; the diagnoses of both ids
-- are orphans); claim 32's copy breaks a row rule (the other kept); claim 33's copy is an
-- orphan (set aside by orphan:person_id first: no duplicate left)
UPDATE claims SET claim_id = (SELECT claim_id FROM claims WHERE rowid = {nth('claims', 'rowid >= 30000', 0)}) WHERE rowid = {nth('claims', 'rowid >= 30000', 1)};
INSERT INTO claims SELECT * REPLACE (-5 AS cost_krw) FROM claims WHERE rowid = {nth('claims', 'rowid >= 30000', 2)};
INSERT INTO claims SELECT * REPLACE ('Pnobody2' AS person_id) FROM claims WHERE rowid = {nth('claims', 'rowid >= 30000', 3)};
-- claims of the duplicated person 20 are orphans, and so are their diagnoses (orphan:claim_id)

-- diagnoses
UPDATE diagnoses SET dx_code = 'i639'      WHERE rowid = {nth('diagnoses', 'true', 0)};  -- format:dx_code (lower case)
UPDATE diagnoses SET dx_code = 'F00.1'     WHERE rowid = {nth('diagnoses', 'true', 1)};  -- format:dx_code (dot)
UPDATE diagnoses SET dx_code = 'S72001X'   WHERE rowid = {nth('diagnoses', 'true', 2)};  -- format:dx_code (7 characters)
UPDATE diagnoses SET dx_code = 'S72'       WHERE rowid = {nth('diagnoses', 'true', 3)};  -- ok (3 characters)
UPDATE diagnoses SET dx_code = '1639'      WHERE rowid = {nth('diagnoses', 'true', 4)};  -- format:dx_code (digit first)
UPDATE diagnoses SET dx_code = 'I639' || chr(10) WHERE rowid = {nth('diagnoses', 'true', 5)}; -- format:dx_code (trailing newline)
UPDATE diagnoses SET dx_code = ''          WHERE rowid = {nth('diagnoses', 'true', 6)};  -- empty:dx_code + format:dx_code
UPDATE diagnoses SET dx_code = NULL        WHERE rowid = {nth('diagnoses', 'true', 7)};  -- null:dx_code only
UPDATE diagnoses SET dx_order = 0          WHERE rowid = {nth('diagnoses', 'true', 8)};  -- range:dx_order
UPDATE diagnoses SET dx_order = NULL       WHERE rowid = {nth('diagnoses', 'true', 9)};  -- null:dx_order
UPDATE diagnoses SET claim_id = NULL       WHERE rowid = {nth('diagnoses', 'true', 10)}; -- null:claim_id
UPDATE diagnoses SET claim_id = ''         WHERE rowid = {nth('diagnoses', 'true', 11)}; -- empty:claim_id (not an orphan)
UPDATE diagnoses SET person_id = ''        WHERE rowid = {nth('diagnoses', 'true', 12)}; -- empty:person_id
UPDATE diagnoses SET claim_id = 'Cnone'    WHERE rowid = {nth('diagnoses', 'true', 13)}; -- orphan:claim_id
UPDATE diagnoses SET person_id = 'Pnone'   WHERE rowid = {nth('diagnoses', 'rowid >= 30000', 0)}; -- orphan:person_id (its claim kept: far from the persons corrupted above)
UPDATE diagnoses SET claim_id = 'Cnone', person_id = 'Pnone' WHERE rowid = {nth('diagnoses', 'rowid >= 30000', 1)}; -- orphan:claim_id only
UPDATE diagnoses SET claim_id = 'Cnone', dx_order = -1 WHERE rowid = {nth('diagnoses', 'true', 16)}; -- range:dx_order only (set aside before the keys)

-- prescriptions
UPDATE prescriptions SET ingredient_code = '101301AT'   WHERE rowid = {nth('prescriptions', 'true', 0)}; -- format:ingredient_code (8)
UPDATE prescriptions SET ingredient_code = '101301ATBX' WHERE rowid = {nth('prescriptions', 'true', 1)}; -- format:ingredient_code (10)
UPDATE prescriptions SET ingredient_code = '성분코드101ATB' WHERE rowid = {nth('prescriptions', 'true', 2)}; -- 10 characters: format
UPDATE prescriptions SET ingredient_code = '성분코드10ATB' WHERE rowid = {nth('prescriptions', 'true', 3)}; -- ok: 9 characters, 17 bytes
UPDATE prescriptions SET ingredient_code = ''           WHERE rowid = {nth('prescriptions', 'true', 4)}; -- empty + format
UPDATE prescriptions SET ingredient_code = NULL         WHERE rowid = {nth('prescriptions', 'true', 5)}; -- null:ingredient_code
UPDATE prescriptions SET days_supply = 0                WHERE rowid = {nth('prescriptions', 'true', 6)}; -- range:days_supply
UPDATE prescriptions SET days_supply = NULL             WHERE rowid = {nth('prescriptions', 'true', 7)}; -- null:days_supply
UPDATE prescriptions SET start_date = DATE '2040-01-01' WHERE rowid = {nth('prescriptions', 'true', 8)}; -- date_range:start_date
UPDATE prescriptions SET start_date = NULL              WHERE rowid = {nth('prescriptions', 'true', 9)}; -- null:start_date
UPDATE prescriptions SET claim_id = 'Cnone'             WHERE rowid = {nth('prescriptions', 'true', 10)}; -- orphan:claim_id
UPDATE prescriptions SET person_id = 'Pnone'            WHERE rowid = {nth('prescriptions', 'rowid >= 30000', 0)}; -- orphan:person_id
UPDATE prescriptions SET person_id = 'Pnone', days_supply = 0 WHERE rowid = {nth('prescriptions', 'rowid >= 30000', 1)}; -- range:days_supply only
UPDATE prescriptions SET person_id = NULL               WHERE rowid = {nth('prescriptions', 'true', 12)}; -- null:person_id

-- ltc_assessments
UPDATE ltc_assessments SET status = 'DONE'        WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 0)}; -- enum:status + decision_fields (undecided with a decision)
UPDATE ltc_assessments SET status = NULL          WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 1)}; -- null:status (decision_fields: null status, no break)
UPDATE ltc_assessments SET grade = NULL           WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 2)}; -- decision_fields
UPDATE ltc_assessments SET grade = 'Z'            WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 3)}; -- enum:grade
UPDATE ltc_assessments SET grade = '1', score = 80 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 4)}; -- grade_score
UPDATE ltc_assessments SET grade = '1', score = 100 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 5)}; -- ok
UPDATE ltc_assessments SET grade = '1', score = 100.00005 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 6)}; -- grade_score (> 100)
UPDATE ltc_assessments SET grade = 'A', score = 51 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 7)}; -- grade_score
UPDATE ltc_assessments SET grade = 'CS', score = 44.9 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 8)}; -- ok
UPDATE ltc_assessments SET grade = '4', score = 'nan'::DOUBLE WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 9)}; -- grade_score (NaN)
UPDATE ltc_assessments SET score = -1, grade = 'C' WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 10)}; -- grade_score (< 0)
UPDATE ltc_assessments SET decision_date = application_date - 1 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 11)}; -- decision_before_application
UPDATE ltc_assessments SET decision_date = DATE '1899-12-31' WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 12)}; -- date_range:decision_date + decision_before_application
UPDATE ltc_assessments SET valid_until = DATE '2099-01-01' WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 13)}; -- date_range:valid_until
UPDATE ltc_assessments SET application_id = ''    WHERE rowid = {nth('ltc_assessments', 'true', 20)}; -- empty:application_id
UPDATE ltc_assessments SET application_date = NULL WHERE rowid = {nth('ltc_assessments', 'true', 21)}; -- null:application_date
UPDATE ltc_assessments SET person_id = 'Pnobody'  WHERE rowid = {nth('ltc_assessments', 'true', 22)}; -- orphan:person_id
INSERT INTO ltc_assessments SELECT * FROM ltc_assessments WHERE rowid = {nth('ltc_assessments', 'true', 23)}; -- duplicate_key (2 rows)
INSERT INTO ltc_assessments SELECT * REPLACE ('Pnobody' AS person_id) FROM ltc_assessments WHERE rowid = {nth('ltc_assessments', 'true', 24)}; -- orphan, no duplicate
INSERT INTO ltc_assessments (application_id, person_id, application_date, status)
  SELECT 'Anew', person_id, DATE '2026-10-01', 'PENDING' FROM persons WHERE rowid = {nth('persons', 'true', 40)}; -- ok: pending, all null

-- ltc_services
UPDATE ltc_services SET service_month = service_month + 14 WHERE rowid = {nth('ltc_services', 'true', 0)}; -- month_start:service_month
UPDATE ltc_services SET days = 0, cost_krw = -1 WHERE rowid = {nth('ltc_services', 'true', 1)};   -- range:days + negative:cost_krw
UPDATE ltc_services SET days = 32          WHERE rowid = {nth('ltc_services', 'true', 2)};   -- range:days
UPDATE ltc_services SET days = 31          WHERE rowid = {nth('ltc_services', 'true', 3)};   -- ok
UPDATE ltc_services SET service_type = 'SPA' WHERE rowid = {nth('ltc_services', 'true', 4)}; -- enum:service_type
UPDATE ltc_services SET service_type = NULL WHERE rowid = {nth('ltc_services', 'true', 5)};  -- null:service_type
UPDATE ltc_services SET service_month = NULL WHERE rowid = {nth('ltc_services', 'true', 6)}; -- null:service_month
UPDATE ltc_services SET service_month = DATE '1899-12-01' WHERE rowid = {nth('ltc_services', 'true', 7)}; -- date_range:service_month
UPDATE ltc_services SET days = NULL, cost_krw = NULL WHERE rowid = {nth('ltc_services', 'true', 8)}; -- null:days + null:cost_krw
UPDATE ltc_services SET person_id = 'Pnobody' WHERE rowid = {nth('ltc_services', 'true', 9)}; -- orphan:person_id
INSERT INTO ltc_services SELECT * REPLACE (days - 1 AS days) FROM ltc_services WHERE rowid = {nth('ltc_services', 'days > 1', 10)}; -- duplicate_key (2 rows)
INSERT INTO ltc_services SELECT * REPLACE (service_month + 31 AS service_month) FROM ltc_services WHERE rowid = {nth('ltc_services', 'true', 11)}; -- month_start (no duplicate)

-- program_history
UPDATE program_history SET sgg_code = 'ABCDE' WHERE rowid = {nth('program_history', 'true', 0)}; -- format:sgg_code
UPDATE program_history SET sgg_code = ''      WHERE rowid = {nth('program_history', 'true', 1)}; -- empty:sgg_code + format:sgg_code
UPDATE program_history SET sgg_code = NULL    WHERE rowid = {nth('program_history', 'true', 2)}; -- null:sgg_code
UPDATE program_history SET event_month = event_month + 1 WHERE rowid = {nth('program_history', 'true', 3)}; -- month_start:event_month
UPDATE program_history SET status = 'SEEN'    WHERE rowid = {nth('program_history', 'true', 4)}; -- enum:status
UPDATE program_history SET person_id = 'Pnobody' WHERE rowid = {nth('program_history', 'true', 5)}; -- orphan:person_id
""",
    },
    # the key rules' cascades, no program_history: persons set aside (duplicates, a row rule)
    # make orphans of all their rows; a claim set aside makes orphans of its diagnoses and
    # prescriptions; many duplicates
    "keys": {
        "drop": ["program_history"],
        "sql": f"""
-- persons 0–9 twice, 10–14 with a bad sex: every row of theirs elsewhere an orphan
INSERT INTO persons SELECT * FROM persons WHERE rowid < 10;
UPDATE persons SET sex = 'U' WHERE rowid BETWEEN 10 AND 14;
-- a whole person's claims duplicated (all claims of person 50, twice)
INSERT INTO claims SELECT c.* FROM claims c JOIN persons p USING (person_id) WHERE p.rowid = 50;
-- every IN claim's end before its start: set aside, their diagnoses orphan:claim_id
UPDATE claims SET end_date = start_date - 1 WHERE care_type = 'IN' AND end_date IS NOT NULL;
-- diagnoses: duplicates are allowed (no key); orphan persons on kept claims
INSERT INTO diagnoses SELECT * FROM diagnoses WHERE rowid < 100;
UPDATE diagnoses SET person_id = 'P' || rowid WHERE rowid BETWEEN 40000 AND 40019;
-- and on the kept claims of a person set aside: persons 30–32 with a bad sex, their claims given
-- to person 33; their diagnoses and prescriptions keep persons 30–32 (orphan:person_id)
UPDATE persons SET sex = 'U' WHERE rowid BETWEEN 30 AND 32;
UPDATE claims SET person_id = (SELECT person_id FROM persons WHERE rowid = 33)
  WHERE person_id IN (SELECT person_id FROM persons WHERE rowid BETWEEN 30 AND 32);
-- prescriptions on a duplicated claim's id, and on a kept claim of a person set aside
UPDATE prescriptions SET claim_id = (SELECT claim_id FROM claims WHERE rowid = 0) WHERE rowid BETWEEN 300 AND 304;
-- ltc_services: each row of the first 50 twice
INSERT INTO ltc_services SELECT * FROM ltc_services WHERE rowid < 50;
INSERT INTO claims SELECT * FROM claims WHERE rowid = 0;
""",
    },
    # other Parquet types that balgul casts without loss, several parts, a value at every
    # bound; rows breaking rules in several tables at once
    "types": {
        "parts": {"claims": 3, "diagnoses": 2},
        "types": {
            "persons": {"birth_year": "SMALLINT", "income_decile": "SMALLINT"},
            "ltc_assessments": {"score": "FLOAT"},
            "ltc_services": {"days": "SMALLINT", "cost_krw": "INTEGER"},
            "prescriptions": {"days_supply": "SMALLINT"},
            "diagnoses": {"dx_order": "TINYINT"},
        },
        "sql": f"""
-- a float score of 74.99 is 74.98999786… as a double: in band 3 (60–<75), not in band 2
UPDATE ltc_assessments SET grade = '3', score = 74.99 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 0)}; -- ok
UPDATE ltc_assessments SET grade = '2', score = 74.99 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 1)}; -- grade_score
UPDATE ltc_assessments SET grade = '2', score = 95 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 2)};   -- grade_score (2 is < 95)
UPDATE ltc_assessments SET grade = '5', score = 45 WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 3)};   -- ok
UPDATE ltc_assessments SET status = 'PENDING', decision_date = NULL, grade = NULL WHERE rowid = {nth('ltc_assessments', "status = 'DECIDED'", 4)}; -- decision_fields (a score left)
UPDATE persons SET income_decile = 10, birth_year = 2026 WHERE rowid = 3;   -- ok: the bounds
UPDATE persons SET income_decile = 200 WHERE rowid = 4;                      -- range:income_decile (SMALLINT)
UPDATE ltc_services SET days = 255 WHERE rowid = 5;                          -- range:days (SMALLINT)
UPDATE ltc_services SET cost_krw = -2000000000 WHERE rowid = 6;              -- negative:cost_krw (INTEGER)
UPDATE prescriptions SET days_supply = -3 WHERE rowid = 7;                   -- range:days_supply (SMALLINT)
UPDATE diagnoses SET dx_order = -128 WHERE rowid = 8;                        -- range:dx_order (TINYINT)
UPDATE claims SET start_date = DATE '1900-01-01', end_date = DATE '1900-01-01' WHERE rowid = 9; -- ok: the bound
-- a claim breaking three rules at once, and its diagnoses then orphans
UPDATE claims SET provider_kind = '00', care_type = 'ZZ', cost_krw = -9 WHERE rowid = {nth('claims', 'true', 100)};
""",
    },
    # unsigned Parquet types, which balgul casts without loss too (until 2026-12-04 `balgul run`
    # stopped on them: "cannot create series from UInt8"); values at and past each bound
    "unsigned": {
        "types": {
            "persons": {"birth_year": "USMALLINT", "income_decile": "UTINYINT"},
            "claims": {"cost_krw": "UINTEGER"},
            "diagnoses": {"dx_order": "UTINYINT"},
            "prescriptions": {"days_supply": "USMALLINT"},
            "ltc_services": {"days": "UTINYINT", "cost_krw": "UINTEGER"},
            "ltc_assessments": {"score": "UTINYINT"},
        },
        "sql": """
UPDATE persons SET income_decile = 255 WHERE rowid = 3;                       -- range:income_decile
UPDATE persons SET birth_year = 65535 WHERE rowid = 4;                        -- range:birth_year
UPDATE diagnoses SET dx_order = 0 WHERE rowid = 5;                            -- range:dx_order
UPDATE prescriptions SET days_supply = 0 WHERE rowid = 6;                     -- range:days_supply
UPDATE ltc_services SET days = 32 WHERE rowid = 7;                            -- range:days
UPDATE ltc_services SET days = 31 WHERE rowid = 8;                            -- ok: the bound
UPDATE claims SET cost_krw = 4294967295 WHERE rowid = 9;                      -- ok: u32's greatest
""",
    },
}


def build(workdir, name, spec, bin_):
    src = os.path.join(workdir, f"{name}-synth")
    subprocess.run([bin_, "synth", "--persons", "2000", "--seed", "3", "--as-of", AS_OF, "--out", src],
                   check=True, stdout=subprocess.DEVNULL)
    data = os.path.join(workdir, name)
    os.makedirs(data)
    shutil.copy(os.path.join(src, "extract.toml"), data)
    con = duckdb.connect(":memory:")
    for t in TABLES:
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_parquet('{src}/{t}.parquet')")
    con.execute(spec["sql"])
    for t in TABLES:
        if t in spec.get("drop", []):
            continue
        os.makedirs(os.path.join(data, t))
        casts = spec.get("types", {}).get(t, {})
        sel = "*" if not casts else "* REPLACE (" + ", ".join(f"{c}::{ty} AS {c}" for c, ty in casts.items()) + ")"
        parts = spec.get("parts", {}).get(t, 1)
        for i in range(parts):
            con.execute(f"COPY (SELECT {sel} FROM {t} WHERE rowid % {parts} = {i}) "
                        f"TO '{data}/{t}/part-{i}.parquet' (FORMAT parquet)")
    con.close()
    shutil.rmtree(src)
    return data


def balgul_counts(bin_, data, out):
    r = subprocess.run([bin_, "run", "--data", data, "--rules", os.path.join(ROOT, "rules/default.toml"),
                        "--out", out, "--max-bad-rows", "100%", "--force"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"check_validated_peer: balgul run failed ({r.returncode}):\n{r.stderr}")
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    got = {}
    for s in m["rows_set_aside"]:
        got[(s["table"], "(rows)")] = s["rows"]
        got[(s["table"], "(set_aside)")] = s["rows_set_aside"]
        for r in s["rules_rows"]:
            got[(s["table"], r["rule"])] = r["rows"]
    return got


def peer_counts(data, counts_csv, sql):
    r = subprocess.run([sys.executable, os.path.join(HERE, "run_duckdb_validated.py"), "--data", data,
                        "--as-of", AS_OF, "--validate-only", "--counts", counts_csv,
                        "--validate-sql", sql],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"check_validated_peer: run_duckdb_validated.py failed ({r.returncode}):\n{r.stderr}")
    with open(counts_csv, newline="", encoding="utf-8") as f:
        return [(row["table"], row["rule"], int(row["rows"])) for row in csv.DictReader(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/balgul"))
    ap.add_argument("--validate-sql", default=os.path.join(HERE, "validate_duckdb.sql"),
                    help="the validation SQL to check (default: validate_duckdb.sql)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="balgul-vpeer-")
    failed = 0
    try:
        for name, spec in SCENARIOS.items():
            data = build(work, name, spec, a.bin)
            b = balgul_counts(a.bin, data, os.path.join(work, f"{name}-out"))
            p = peer_counts(data, os.path.join(work, f"{name}-counts.csv"), a.validate_sql)
            # balgul's manifest lists only tables with rows set aside, and only rules broken;
            # the peer lists every rule (zeros included) and `(rows)` for every table
            listed = {t for t, _ in b}
            mismatches = []
            seen = set()
            print(f"== {name}: table / rule: balgul vs peer")
            for t, rule, n in p:
                if rule == "(rows)" and t not in listed:
                    continue  # balgul's manifest gives a table's rows only when some are set aside
                want = b.get((t, rule), 0)
                seen.add((t, rule))
                if n or want:
                    ok = n == want
                    print(f"   {'  ' if ok else '!!'} {t:16} {rule:30} {want:>7} {n:>7}")
                    if not ok:
                        mismatches.append((t, rule, want, n))
            for (t, rule), want in b.items():
                if (t, rule) not in seen:
                    print(f"   !! {t:16} {rule:30} {want:>7}       – (the peer has no such rule)")
                    mismatches.append((t, rule, want, None))
            if mismatches:
                failed += 1
                print(f"   {name}: {len(mismatches)} mismatch(es)")
            else:
                print(f"   {name}: every count agrees ({sum(1 for t, r, n in p if n and not r.startswith('('))} rules broken)")
    finally:
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        print(f"check_validated_peer: {failed} scenario(s) disagree", file=sys.stderr)
        sys.exit(1)
    print("check_validated_peer: the peer counts what balgul counts, rule by rule")


if __name__ == "__main__":
    main()
