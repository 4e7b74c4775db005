-- policy-v1 (shared/spec/policy-v1.md) as one DuckDB SQL script: the DuckDB peer of
-- `balgul run --rules rules/default.toml`. Written from the policy text, not from balgul.
--
-- Placeholders, filled in by scripts/peers/run_duckdb.py (string.Template):
--   ${data}   the extract directory (one subdirectory of Parquet parts per table)
--   ${as_of}  the reference date R, YYYY-MM-DD
--   ${cap}    list length per municipality (policy §6, default 300)
--   ${out}    the output CSV: sgg_code,rank,person_id,score,cohorts
--
-- Conventions (policy preamble, data-contract "Dates and the reference date"):
--   "last N days" = R - N days < date <= R; month(R) = calendar month containing R;
--   events dated after R are ignored (claims by start_date; a diagnosis by its claim's
--   start_date); age = year(R) - birth_year.

CREATE OR REPLACE TEMP MACRO r() AS DATE '${as_of}';
CREATE OR REPLACE TEMP MACRO ms() AS date_trunc('month', DATE '${as_of}')::DATE;
-- R - N days < d <= R
CREATE OR REPLACE TEMP MACRO last_days(d, n) AS (d > DATE '${as_of}' - n::INTEGER AND d <= DATE '${as_of}');
-- d's month is month(R) or one of the k months before it
CREATE OR REPLACE TEMP MACRO in_months(d, k) AS
  (date_trunc('month', d)::DATE BETWEEN (ms() - to_months(k::INTEGER))::DATE AND ms());

COPY (
WITH
persons AS (
  SELECT person_id, birth_year, sgg_code, insurance_type, death_date,
         year(r()) - birth_year AS age
  FROM read_parquet('${data}/persons/*.parquet')
),
-- claims: every per-person claim term in one pass (events after R ignored: start_date <= R)
claim_feats AS (
  SELECT person_id,
    -- B5 in hospital at R
    bool_or(care_type = 'IN' AND (end_date IS NULL OR end_date > r())) AS in_hospital,
    -- §3 RECENT_DISCHARGE: qualifying discharges, and whether one was at a 요양병원 (28)
    bool_or(care_type = 'IN' AND provider_kind IN ('01','11','21','28','29')
            AND last_days(end_date, 60)
            AND (date_diff('day', start_date, end_date) >= 14 OR provider_kind = '28')) AS discharge,
    bool_or(care_type = 'IN' AND provider_kind = '28' AND last_days(end_date, 60)) AS discharge_ltch,
    -- §3 INHOME_LTC complex needs: an IN claim with end_date in the last 365 days
    bool_or(care_type = 'IN' AND last_days(end_date, 365)) AS stay_ended_year,
    -- §5 ER visits in 180 days, admissions (IN start_date) in 365 days
    count(*) FILTER (WHERE care_type = 'ER' AND last_days(start_date, 180)) AS er_visits,
    count(*) FILTER (WHERE care_type = 'IN' AND last_days(start_date, 365)) AS admissions
  FROM read_parquet('${data}/claims/*.parquet')
  WHERE start_date <= r() AND care_type IN ('IN', 'ER')
  GROUP BY person_id
),
-- §2 condition groups: diagnoses on claims whose start_date is in the last 365 days
dx_claims AS (
  SELECT claim_id, person_id
  FROM read_parquet('${data}/claims/*.parquet')
  WHERE last_days(start_date, 365)
),
dx AS (
  SELECT c.person_id, d.dx_code
  FROM read_parquet('${data}/diagnoses/*.parquet') d
  JOIN dx_claims c ON c.claim_id = d.claim_id
  WHERE d.dx_code[1] IN ('F','G','S','I','J','N','E')
),
dx_groups AS (
  SELECT person_id,
    bool_or(starts_with(dx_code,'F00') OR starts_with(dx_code,'F01') OR starts_with(dx_code,'F02')
            OR starts_with(dx_code,'F03') OR starts_with(dx_code,'G30'))                  AS g_dementia,
    bool_or(starts_with(dx_code,'S72'))                                                  AS g_hip,
    bool_or(starts_with(dx_code,'G20'))                                                  AS g_parkinson,
    bool_or(starts_with(dx_code,'I60') OR starts_with(dx_code,'I61') OR starts_with(dx_code,'I62')
            OR starts_with(dx_code,'I63') OR starts_with(dx_code,'I64') OR starts_with(dx_code,'I69')) AS g_stroke,
    bool_or(starts_with(dx_code,'I50'))                                                  AS g_hf,
    bool_or(starts_with(dx_code,'J43') OR starts_with(dx_code,'J44'))                    AS g_copd,
    bool_or(starts_with(dx_code,'N18'))                                                  AS g_ckd,
    bool_or(starts_with(dx_code,'F32') OR starts_with(dx_code,'F33'))                    AS g_depression,
    bool_or(starts_with(dx_code,'E10') OR starts_with(dx_code,'E11') OR starts_with(dx_code,'E12')
            OR starts_with(dx_code,'E13') OR starts_with(dx_code,'E14'))                 AS g_diabetes
  FROM dx
  GROUP BY person_id
),
cond AS (
  SELECT person_id,
    g_dementia::INT + g_hip::INT + g_parkinson::INT + g_stroke::INT + g_hf::INT
      + g_copd::INT + g_ckd::INT + g_depression::INT + g_diabetes::INT AS chronic_groups,
    10*g_dementia::INT + 10*g_hip::INT + 5*g_parkinson::INT + 5*g_stroke::INT + 5*g_hf::INT
      + 5*g_copd::INT + 5*g_ckd::INT + 5*g_depression::INT + 3*g_diabetes::INT AS cond_points
  FROM dx_groups
),
-- §5 polypharmacy: distinct ingredient_code dispensed in the last 90 days
rx AS (
  SELECT person_id, count(DISTINCT ingredient_code) AS ingredients
  FROM read_parquet('${data}/prescriptions/*.parquet')
  WHERE last_days(start_date, 90)
  GROUP BY person_id
),
-- §3 OUT_OF_GRADE_AB: latest decided assessment (greatest decision_date <= R;
-- ties -> greatest application_id)
asmt AS (
  SELECT * FROM read_parquet('${data}/ltc_assessments/*.parquet')
),
latest_decided AS (
  SELECT person_id,
         arg_max(grade, (decision_date, application_id)) AS grade,
         max(decision_date) AS decision_date
  FROM asmt
  WHERE status = 'DECIDED' AND decision_date IS NOT NULL AND decision_date <= r()
  GROUP BY person_id
),
oog AS (
  SELECT person_id, grade FROM latest_decided
  WHERE grade IN ('A','B') AND last_days(decision_date, 365)
),
-- §3 LTC_PENDING: applied in the last 90 days, not WITHDRAWN, undecided at R
pending AS (
  SELECT DISTINCT person_id FROM asmt
  WHERE last_days(application_date, 90) AND status <> 'WITHDRAWN'
    AND (decision_date IS NULL OR decision_date > r())
),
-- ltc_services: B4 facility (month(R) or 1 before), §3 in-home use (month(R) or 2 before)
svc AS (
  SELECT person_id,
    bool_or(service_type = 'FACILITY' AND in_months(service_month, 1)) AS facility,
    bool_or(service_type IN ('HOME_CARE','HOME_BATH','HOME_NURSING','DAY_NIGHT','SHORT_STAY')
            AND in_months(service_month, 2)) AS inhome_use
  FROM read_parquet('${data}/ltc_services/*.parquet')
  GROUP BY person_id
),
-- §4 suppression
suppressed AS (
  SELECT DISTINCT person_id
  FROM read_parquet('${data}/program_history/*.parquet')
  WHERE (status = 'ENROLLED' AND date_trunc('month', event_month)::DATE <= ms())
     OR (status IN ('SENT','DECLINED') AND in_months(event_month, 6))
),
feat AS (
  SELECT p.person_id, p.sgg_code, p.age, p.insurance_type,
    coalesce(cf.discharge, false)       AS c_discharge,
    coalesce(cf.discharge_ltch, false)  AS discharge_ltch,
    o.grade                              AS oog_grade,
    pe.person_id IS NOT NULL             AS c_pending,
    coalesce(s.inhome_use, false)
      AND (coalesce(cd.chronic_groups, 0) >= 2 OR coalesce(cf.stay_ended_year, false)) AS c_inhome,
    coalesce(cd.cond_points, 0)          AS cond_points,
    coalesce(rx.ingredients, 0)          AS ingredients,
    coalesce(cf.er_visits, 0)            AS er_visits,
    coalesce(cf.admissions, 0)           AS admissions
  FROM persons p
  LEFT JOIN claim_feats cf ON cf.person_id = p.person_id
  LEFT JOIN cond cd        ON cd.person_id = p.person_id
  LEFT JOIN rx             ON rx.person_id = p.person_id
  LEFT JOIN oog o          ON o.person_id = p.person_id
  LEFT JOIN pending pe     ON pe.person_id = p.person_id
  LEFT JOIN svc s          ON s.person_id = p.person_id
  WHERE p.age >= 65                                            -- B1
    AND (p.death_date IS NULL OR p.death_date > r())           -- B2
    AND p.sgg_code IS NOT NULL                                 -- B3
    AND NOT coalesce(s.facility, false)                        -- B4
    AND NOT coalesce(cf.in_hospital, false)                    -- B5
    AND p.person_id NOT IN (SELECT person_id FROM suppressed)  -- §4
),
cand AS (
  SELECT sgg_code, person_id,
    (CASE WHEN c_discharge THEN 40 ELSE 0 END)
    + (CASE WHEN c_discharge AND discharge_ltch THEN 10 ELSE 0 END)
    + (CASE oog_grade WHEN 'A' THEN 25 WHEN 'B' THEN 20 ELSE 0 END)
    + (CASE WHEN c_pending THEN 15 ELSE 0 END)
    + (CASE WHEN c_inhome THEN 20 ELSE 0 END)
    + (CASE WHEN age >= 85 THEN 20 WHEN age >= 75 THEN 10 ELSE 0 END)
    + (CASE WHEN insurance_type IN ('MA1','MA2') THEN 10 ELSE 0 END)
    + cond_points
    + (CASE WHEN ingredients >= 10 THEN 10 ELSE 0 END)
    + (CASE WHEN er_visits >= 2 THEN 10 ELSE 0 END)
    + (CASE WHEN admissions >= 2 THEN 10 ELSE 0 END) AS score,
    concat_ws(';',
      CASE WHEN c_discharge THEN 'RECENT_DISCHARGE' END,
      CASE WHEN oog_grade IS NOT NULL THEN 'OUT_OF_GRADE_AB' END,
      CASE WHEN c_pending THEN 'LTC_PENDING' END,
      CASE WHEN c_inhome THEN 'INHOME_LTC' END) AS cohorts
  FROM feat
  WHERE c_discharge OR oog_grade IS NOT NULL OR c_pending OR c_inhome    -- §3
),
ranked AS (
  SELECT sgg_code,
         row_number() OVER (PARTITION BY sgg_code ORDER BY score DESC, person_id ASC) AS rank,
         person_id, score, cohorts
  FROM cand
)
SELECT sgg_code, rank, person_id, score, cohorts
FROM ranked
WHERE rank <= ${cap}
ORDER BY sgg_code, rank
) TO '${out}' (FORMAT csv, HEADER true);
