-- The data-contract validation of `balgul run` as DuckDB SQL: for every table of the extract,
-- how many rows break each rule balgul checks, with the same rule ids and the same meaning.
-- Mirrors src/contract.rs (the tables), src/validate/mod.rs (the rules a row breaks by
-- itself) and src/validate/keys.rs (orphans and duplicate keys). Run by
-- scripts/peers/run_duckdb_validated.py before policy_v1.sql, on the same connection;
-- checked against balgul's own counts by scripts/peers/check_validated_peer.py.
--
-- Input, set up by the runner: one view per table, `src_<table>`, over DIR/<table>/*.parquet
-- with the contract's columns cast to the contract's types (what balgul's loader does with a
-- compatible type; a missing or mistyped column stops the runner before this script). An
-- absent program_history is an empty view. Placeholder (string.Template): ${as_of}, the
-- reference date R; the date rules' upper bound is 1 January of R's year + 10.
--
-- Output: the temp table `validation` (tbl, rule, rows): one row per table and rule, zero
-- counts included, plus two rows per table: `(rows)` (rows read) and `(set_aside)` (rows
-- breaking any rule: what balgul sets aside). balgul's manifest.json lists only the rules
-- broken; for those, `rows` equals its `rows_set_aside[].rules_rows[].rows`.
--
-- How balgul counts, and so how this script counts:
--   * Row rules: each counted over every row of the table as read, independently (a row
--     breaking two rules counts in both). A rule whose verdict is null is not broken
--     (balgul's `fill_null(false)`): count_if counts only true, and a row is kept unless a
--     flag is true (`any_rule IS NOT TRUE`); so a null is only the `null:` rules' business.
--   * Key rules, table by table in contract order, on the rows the rules before them kept:
--     first each reference in the table's order (diagnoses, prescriptions: claim_id, then
--     person_id), then the duplicate key. A reference is an orphan when its value is not the
--     key of a *kept* parent row: a parent row set aside by a row rule, as an orphan or as a
--     duplicate makes its children orphans too. Every row of a repeated key is set aside.
--   * Every value of every column is read and checked: the key checks keep the rows by
--     `any_rule IS NOT TRUE`, a filter over every flag, which the Parquet reader can neither
--     push down nor answer from the footers' statistics. (balgul answers some one-column rules
--     from the statistics where the writer wrote them; the synthetic extracts carry none.)
--     Like balgul, a table none of whose rows breaks a row rule is not read again to count
--     each rule: its counts are zeros; a table with broken rows is.
--   * The key checks are exact joins and group-bys on the key text. balgul hashes keys to 64
--     bits and confirms duplicates on the text; an orphan could in principle hide behind a
--     hash collision (~1e-11 per orphan key, src/validate/keys.rs): the counts are the same.

-- `date_range:<col>`: before 1900-01-01 or after 1 January of the as_of year + 10 (both kept).
CREATE OR REPLACE TEMP MACRO date_out(d) AS
  (d < DATE '1900-01-01' OR d > make_date(year(DATE '${as_of}') + 10, 1, 1));

-- DuckDB 2.0 estimates a filtered scan at a fifth of its rows, and so would build the hash
-- table of the diagnoses' and prescriptions' lookup in the kept claims on those 142 M rows (at
-- 1M persons) rather than on the 79 M claims: measured at 100k persons 7.3 s and 1.7 GB against
-- 4.8 s and 0.9 GB. Every join below is written with its build side on the right (the kept
-- parent keys). Reset at the end of this script, before policy_v1.sql runs.
SET disabled_optimizers = 'build_side_probe_side';

-- the result, in insertion order (the runner sorts it into balgul's order)
CREATE OR REPLACE TEMP TABLE validation (tbl VARCHAR, rule VARCHAR, rows BIGINT);
-- per table: rows read, and rows breaking at least one row rule
CREATE OR REPLACE TEMP TABLE tables (tbl VARCHAR, rows BIGINT, broken BIGINT);

-- ── the rules a row breaks by itself (src/validate/mod.rs) ────────────────────────────
-- One view per table: its key and reference columns, one flag per rule named by balgul's rule
-- id (true = broken; null = not broken), in balgul's order, and `any_rule` (true when a flag
-- is). Views, so each use is a scan: once for the key checks, and once more for the count of
-- each rule only if a row of the table broke one (as balgul does).

CREATE OR REPLACE TEMP VIEW persons_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (person_id))) AS any_rule FROM (
  SELECT person_id,
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (birth_year IS NULL)                                       AS "null:birth_year",
    (sex IS NULL)                                              AS "null:sex",
    (sex NOT IN ('M', 'F'))                                    AS "enum:sex",
    (insurance_type IS NULL)                                   AS "null:insurance_type",
    (insurance_type NOT IN ('NHI', 'MA1', 'MA2'))              AS "enum:insurance_type",
    (disability IS NULL)                                       AS "null:disability",
    date_out(death_date)                                       AS "date_range:death_date",
    (NOT regexp_full_match(sgg_code, '[0-9]{5}'))              AS "format:sgg_code",
    (birth_year < 1890 OR birth_year > year(DATE '${as_of}'))  AS "range:birth_year",
    (income_decile < 1 OR income_decile > 10)                  AS "range:income_decile"
  FROM src_persons);

CREATE OR REPLACE TEMP VIEW claims_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (claim_id, person_id))) AS any_rule FROM (
  SELECT claim_id, person_id,
    (claim_id IS NULL)                                         AS "null:claim_id",
    (claim_id = '')                                            AS "empty:claim_id",
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (provider_id IS NULL)                                      AS "null:provider_id",
    (provider_id = '')                                         AS "empty:provider_id",
    (provider_kind IS NULL)                                    AS "null:provider_kind",
    (provider_kind NOT IN ('01', '11', '21', '28', '29', '31', '41', '51', '71', '81', '92', '93'))
                                                               AS "enum:provider_kind",
    (care_type IS NULL)                                        AS "null:care_type",
    (care_type NOT IN ('IN', 'OUT', 'ER', 'RX'))               AS "enum:care_type",
    (start_date IS NULL)                                       AS "null:start_date",
    date_out(start_date)                                       AS "date_range:start_date",
    date_out(end_date)                                         AS "date_range:end_date",
    (cost_krw IS NULL)                                         AS "null:cost_krw",
    (cost_krw < 0)                                             AS "negative:cost_krw",
    (end_date < start_date)                                    AS "end_before_start",
    -- balgul: care_type != 'IN' & end_date.neq_missing(start_date) (null ≠ a date, null = null)
    (care_type <> 'IN' AND end_date IS DISTINCT FROM start_date) AS "end_not_start"
  FROM src_claims);

CREATE OR REPLACE TEMP VIEW diagnoses_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (claim_id, person_id))) AS any_rule FROM (
  SELECT claim_id, person_id,
    (claim_id IS NULL)                                         AS "null:claim_id",
    (claim_id = '')                                            AS "empty:claim_id",
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (dx_code IS NULL)                                          AS "null:dx_code",
    (dx_code = '')                                             AS "empty:dx_code",
    (dx_order IS NULL)                                         AS "null:dx_order",
    -- balgul: str.contains of ^[A-Z][0-9A-Z]{2,5} anchored at the end of the text (Rust regex)
    (NOT regexp_full_match(dx_code, '[A-Z][0-9A-Z]{2,5}'))     AS "format:dx_code",
    (dx_order < 1)                                             AS "range:dx_order"
  FROM src_diagnoses);

CREATE OR REPLACE TEMP VIEW prescriptions_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (claim_id, person_id))) AS any_rule FROM (
  SELECT claim_id, person_id,
    (claim_id IS NULL)                                         AS "null:claim_id",
    (claim_id = '')                                            AS "empty:claim_id",
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (ingredient_code IS NULL)                                  AS "null:ingredient_code",
    (ingredient_code = '')                                     AS "empty:ingredient_code",
    (start_date IS NULL)                                       AS "null:start_date",
    date_out(start_date)                                       AS "date_range:start_date",
    (days_supply IS NULL)                                      AS "null:days_supply",
    -- balgul: str.len_chars() != 9 (characters, i.e. code points; so is DuckDB's length)
    (length(ingredient_code) <> 9)                             AS "format:ingredient_code",
    (days_supply < 1)                                          AS "range:days_supply"
  FROM src_prescriptions);

CREATE OR REPLACE TEMP VIEW ltc_assessments_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (application_id, person_id))) AS any_rule FROM (
  SELECT application_id, person_id,
    (application_id IS NULL)                                   AS "null:application_id",
    (application_id = '')                                      AS "empty:application_id",
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (application_date IS NULL)                                 AS "null:application_date",
    date_out(application_date)                                 AS "date_range:application_date",
    (status IS NULL)                                           AS "null:status",
    (status NOT IN ('PENDING', 'DECIDED', 'WITHDRAWN'))        AS "enum:status",
    date_out(decision_date)                                    AS "date_range:decision_date",
    (grade NOT IN ('1', '2', '3', '4', '5', 'CS', 'A', 'B', 'C')) AS "enum:grade",
    date_out(valid_until)                                      AS "date_range:valid_until",
    -- a DECIDED row lacks decision_date, grade or score, or an undecided row has one (a null
    -- status decides nothing: SQL's three-valued logic is Polars' Kleene logic)
    ((status = 'DECIDED' AND (decision_date IS NULL OR grade IS NULL OR score IS NULL))
        OR (NOT (status = 'DECIDED')
            AND (decision_date IS NOT NULL OR grade IS NOT NULL OR score IS NOT NULL)))
                                                               AS "decision_fields",
    (decision_date < application_date)                         AS "decision_before_application",
    -- 시행령 제7조 bands (grade 1's upper bound is balgul's 100.0001), A/B/C below 51, and any
    -- score outside 0–100. NaN: greater than every number in DuckDB and in Polars' comparisons
    ((grade = '1'  AND (score < 95.0::DOUBLE OR score >= 100.0001::DOUBLE))
        OR (grade = '2'  AND (score < 75.0::DOUBLE OR score >= 95.0::DOUBLE))
        OR (grade = '3'  AND (score < 60.0::DOUBLE OR score >= 75.0::DOUBLE))
        OR (grade = '4'  AND (score < 51.0::DOUBLE OR score >= 60.0::DOUBLE))
        OR (grade = '5'  AND (score < 45.0::DOUBLE OR score >= 51.0::DOUBLE))
        OR (grade = 'CS' AND score >= 45.0::DOUBLE)
        OR (grade IN ('A', 'B', 'C') AND score >= 51.0::DOUBLE)
        OR score < 0.0::DOUBLE OR score > 100.0::DOUBLE)       AS "grade_score"
  FROM src_ltc_assessments);

CREATE OR REPLACE TEMP VIEW ltc_services_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (person_id, service_month, service_type))) AS any_rule FROM (
  SELECT person_id, service_month, service_type,
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (service_month IS NULL)                                    AS "null:service_month",
    date_out(service_month)                                    AS "date_range:service_month",
    (service_type IS NULL)                                     AS "null:service_type",
    (service_type NOT IN ('HOME_CARE', 'HOME_BATH', 'HOME_NURSING', 'DAY_NIGHT',
                                'SHORT_STAY', 'WELFARE_EQUIP', 'FACILITY')) AS "enum:service_type",
    (days IS NULL)                                             AS "null:days",
    (cost_krw IS NULL)                                         AS "null:cost_krw",
    (cost_krw < 0)                                             AS "negative:cost_krw",
    (days < 1 OR days > 31)                                    AS "range:days",
    (day(service_month) <> 1)                                  AS "month_start:service_month"
  FROM src_ltc_services);

CREATE OR REPLACE TEMP VIEW program_history_checked AS
SELECT *, greatest(*COLUMNS(* EXCLUDE (person_id))) AS any_rule FROM (
  SELECT person_id,
    (person_id IS NULL)                                        AS "null:person_id",
    (person_id = '')                                           AS "empty:person_id",
    (sgg_code IS NULL)                                         AS "null:sgg_code",
    (sgg_code = '')                                            AS "empty:sgg_code",
    (event_month IS NULL)                                      AS "null:event_month",
    date_out(event_month)                                      AS "date_range:event_month",
    (status IS NULL)                                           AS "null:status",
    (status NOT IN ('SENT', 'ENROLLED', 'DECLINED', 'INELIGIBLE')) AS "enum:status",
    (NOT regexp_full_match(sgg_code, '[0-9]{5}'))              AS "format:sgg_code",
    (day(event_month) <> 1)                                    AS "month_start:event_month"
  FROM src_program_history);

-- ── persons ───────────────────────────────────────────────────────────────────────────
-- duplicate_key: every kept row whose person_id repeats among the kept rows
CREATE OR REPLACE TEMP TABLE persons_keys AS
SELECT person_id, count(*) AS n FROM persons_checked WHERE any_rule IS NOT TRUE GROUP BY person_id;
-- the persons' kept keys: what every child's person_id must be one of
CREATE OR REPLACE TEMP TABLE persons_ok AS SELECT person_id FROM persons_keys WHERE n = 1;

INSERT INTO tables
SELECT 'persons', count(*), count(*) - (SELECT coalesce(sum(n), 0) FROM persons_keys) FROM src_persons;
INSERT INTO validation
SELECT 'persons', 'duplicate_key', coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM persons_keys;
INSERT INTO validation
SELECT 'persons', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (person_id, any_rule))), 0) FROM persons_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'persons') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE persons_keys;

-- ── claims ────────────────────────────────────────────────────────────────────────────
-- orphan:person_id (kept rows of no kept person), then duplicate_key on the rows it keeps:
-- per claim_id, its kept rows of a kept person (n; 1 = the claim is kept) and of none
CREATE OR REPLACE TEMP TABLE claims_keys AS
SELECT c.claim_id,
  count(*) FILTER (WHERE p.person_id IS NOT NULL) AS n,
  count(*) FILTER (WHERE p.person_id IS NULL)     AS orphaned
FROM claims_checked c LEFT JOIN persons_ok p ON p.person_id = c.person_id
WHERE c.any_rule IS NOT TRUE
GROUP BY c.claim_id;
-- the claims' kept keys: what the diagnoses' and prescriptions' claim_id must be one of
CREATE OR REPLACE TEMP TABLE claims_ok AS SELECT claim_id FROM claims_keys WHERE n = 1;

INSERT INTO tables
SELECT 'claims', count(*), count(*) - (SELECT coalesce(sum(n + orphaned), 0) FROM claims_keys)
FROM src_claims;
INSERT INTO validation
SELECT 'claims', 'orphan:person_id', coalesce(sum(orphaned), 0) FROM claims_keys
UNION ALL
SELECT 'claims', 'duplicate_key', coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM claims_keys;
INSERT INTO validation
SELECT 'claims', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (claim_id, person_id, any_rule))), 0) FROM claims_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'claims') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE claims_keys;

-- ── diagnoses, prescriptions ──────────────────────────────────────────────────────────
-- One pass over both tables' kept rows, each looked up in the kept claims (one build of
-- claims_ok) and the kept persons. orphan:claim_id: no kept claim (none, or its row was set
-- aside); orphan:person_id: a kept claim but no kept person (balgul checks claim_id first, on
-- the rows kept before it, so a row breaking both counts once, as orphan:claim_id).
CREATE OR REPLACE TEMP TABLE claim_children AS
SELECT src,
  count(*)                                                         AS kept,
  count(*) FILTER (WHERE c.claim_id IS NULL)                       AS orphan_claim,
  count(*) FILTER (WHERE c.claim_id IS NOT NULL AND p.person_id IS NULL) AS orphan_person
FROM (
  SELECT 'diagnoses' AS src, claim_id, person_id FROM diagnoses_checked WHERE any_rule IS NOT TRUE
  UNION ALL
  SELECT 'prescriptions', claim_id, person_id FROM prescriptions_checked WHERE any_rule IS NOT TRUE
) u
LEFT JOIN claims_ok c  ON c.claim_id = u.claim_id
LEFT JOIN persons_ok p ON p.person_id = u.person_id
GROUP BY src;
DROP TABLE claims_ok;

INSERT INTO tables
SELECT 'diagnoses', count(*),
  count(*) - (SELECT coalesce(sum(kept), 0) FROM claim_children WHERE src = 'diagnoses')
FROM src_diagnoses;
INSERT INTO tables
SELECT 'prescriptions', count(*),
  count(*) - (SELECT coalesce(sum(kept), 0) FROM claim_children WHERE src = 'prescriptions')
FROM src_prescriptions;
INSERT INTO validation
SELECT t, 'orphan:claim_id', (SELECT coalesce(sum(orphan_claim), 0) FROM claim_children WHERE src = t)
FROM (VALUES ('diagnoses'), ('prescriptions')) v(t)
UNION ALL
SELECT t, 'orphan:person_id', (SELECT coalesce(sum(orphan_person), 0) FROM claim_children WHERE src = t)
FROM (VALUES ('diagnoses'), ('prescriptions')) v(t);
INSERT INTO validation
SELECT 'diagnoses', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (claim_id, person_id, any_rule))), 0) FROM diagnoses_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'diagnoses') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
INSERT INTO validation
SELECT 'prescriptions', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (claim_id, person_id, any_rule))), 0) FROM prescriptions_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'prescriptions') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE claim_children;

-- ── ltc_assessments ───────────────────────────────────────────────────────────────────
-- orphan:person_id, then duplicate_key (application_id) on the rows it keeps
CREATE OR REPLACE TEMP TABLE ltc_assessments_keys AS
SELECT a.application_id,
  count(*) FILTER (WHERE p.person_id IS NOT NULL) AS n,
  count(*) FILTER (WHERE p.person_id IS NULL)     AS orphaned
FROM ltc_assessments_checked a LEFT JOIN persons_ok p ON p.person_id = a.person_id
WHERE a.any_rule IS NOT TRUE
GROUP BY a.application_id;

INSERT INTO tables
SELECT 'ltc_assessments', count(*), count(*) - (SELECT coalesce(sum(n + orphaned), 0) FROM ltc_assessments_keys)
FROM src_ltc_assessments;
INSERT INTO validation
SELECT 'ltc_assessments', 'orphan:person_id', coalesce(sum(orphaned), 0) FROM ltc_assessments_keys
UNION ALL
SELECT 'ltc_assessments', 'duplicate_key', coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM ltc_assessments_keys;
INSERT INTO validation
SELECT 'ltc_assessments', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (application_id, person_id, any_rule))), 0) FROM ltc_assessments_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'ltc_assessments') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE ltc_assessments_keys;

-- ── ltc_services ──────────────────────────────────────────────────────────────────────
-- orphan:person_id, then duplicate_key on the rows it keeps. The key is (person_id,
-- service_month, service_type); balgul groups by the three joined with U+001F (the date as
-- YYYY-MM-DD): the same groups, unless a person_id held U+001F.
CREATE OR REPLACE TEMP TABLE ltc_services_keys AS
SELECT s.person_id, s.service_month, s.service_type,
  count(*) FILTER (WHERE p.person_id IS NOT NULL) AS n,
  count(*) FILTER (WHERE p.person_id IS NULL)     AS orphaned
FROM ltc_services_checked s LEFT JOIN persons_ok p ON p.person_id = s.person_id
WHERE s.any_rule IS NOT TRUE
GROUP BY s.person_id, s.service_month, s.service_type;

INSERT INTO tables
SELECT 'ltc_services', count(*), count(*) - (SELECT coalesce(sum(n + orphaned), 0) FROM ltc_services_keys)
FROM src_ltc_services;
INSERT INTO validation
SELECT 'ltc_services', 'orphan:person_id', coalesce(sum(orphaned), 0) FROM ltc_services_keys
UNION ALL
SELECT 'ltc_services', 'duplicate_key', coalesce(sum(n) FILTER (WHERE n > 1), 0) FROM ltc_services_keys;
INSERT INTO validation
SELECT 'ltc_services', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (person_id, service_month, service_type, any_rule))), 0) FROM ltc_services_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'ltc_services') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE ltc_services_keys;

-- ── program_history (optional: absent, an empty view) ─────────────────────────────────
-- orphan:person_id (no key)
CREATE OR REPLACE TEMP TABLE program_history_keys AS
SELECT count(*) AS kept, count(*) FILTER (WHERE p.person_id IS NULL) AS orphaned
FROM program_history_checked h LEFT JOIN persons_ok p ON p.person_id = h.person_id
WHERE h.any_rule IS NOT TRUE;

INSERT INTO tables
SELECT 'program_history', count(*), count(*) - (SELECT kept FROM program_history_keys)
FROM src_program_history;
INSERT INTO validation
SELECT 'program_history', 'orphan:person_id', orphaned FROM program_history_keys;
INSERT INTO validation
SELECT 'program_history', rule, rows FROM (UNPIVOT (
  SELECT coalesce(count_if(COLUMNS(* EXCLUDE (person_id, any_rule))), 0) FROM program_history_checked
  WHERE (SELECT broken FROM tables WHERE tbl = 'program_history') > 0
) ON COLUMNS(*) INTO NAME rule VALUE rows);
DROP TABLE program_history_keys;
DROP TABLE persons_ok;

-- ── per table: rows read, rows set aside ──────────────────────────────────────────────
-- Set aside: the rows breaking a row rule, and those the key rules set aside (counted on the
-- rows kept before them, so no row counts twice).
INSERT INTO validation
SELECT tbl, '(rows)', rows FROM tables
UNION ALL
SELECT t.tbl, '(set_aside)', t.broken + (
  SELECT coalesce(sum(v.rows), 0) FROM validation v
  WHERE v.tbl = t.tbl AND v.rule IN ('orphan:claim_id', 'orphan:person_id', 'duplicate_key'))
FROM tables t;
DROP TABLE tables;
RESET disabled_optimizers;
