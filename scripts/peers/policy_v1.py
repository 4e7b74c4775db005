#!/usr/bin/env python3
"""policy-v1 (shared/spec/policy-v1.md) as a lazy Polars query: the Polars-Python peer of
`balgul run --rules rules/default.toml`. Written from the policy text, not from balgul.

    policy_v1.py --data DIR [--as-of YYYY-MM-DD] [--cap 300] --out OUT.csv

--as-of defaults to `as_of` in DIR/extract.toml. Writes sgg_code,rank,person_id,score,cohorts.
Conventions: "last N days" = R - N days < date <= R; month(R) = the calendar month of R;
events dated after R are ignored (claims by start_date, a diagnosis by its claim's
start_date); age = year(R) - birth_year.
"""
import argparse
import datetime as dt
import os
import re
import sys

import polars as pl

# ── policy-v1 parameters ───────────────────────────────────────────────────────────────────
MIN_AGE = 65
DISCHARGE_KINDS = ["01", "11", "21", "28", "29"]
LTCH_KIND = "28"
INHOME_SERVICES = ["HOME_CARE", "HOME_BATH", "HOME_NURSING", "DAY_NIGHT", "SHORT_STAY"]
GROUPS = {  # §2: group -> (KCD prefixes, points)
    "DEMENTIA": (["F00", "F01", "F02", "F03", "G30"], 10),
    "HIP_FRACTURE": (["S72"], 10),
    "PARKINSON": (["G20"], 5),
    "STROKE": (["I60", "I61", "I62", "I63", "I64", "I69"], 5),
    "HEART_FAILURE": (["I50"], 5),
    "COPD": (["J43", "J44"], 5),
    "CKD": (["N18"], 5),
    "DEPRESSION": (["F32", "F33"], 5),
    "DIABETES": (["E10", "E11", "E12", "E13", "E14"], 3),
}


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
    sys.exit(f"policy_v1.py: no --as-of and no as_of in {path}")


def add_months(d, k):
    y, m = divmod(d.year * 12 + d.month - 1 + k, 12)
    return dt.date(y, m + 1, 1)


def build(data, R, cap):
    def scan(t):
        return pl.scan_parquet(os.path.join(data, t, "*.parquet"))

    def last_days(c, n):  # R - n days < c <= R
        return (c > pl.lit(R - dt.timedelta(days=n))) & (c <= pl.lit(R))

    ms = R.replace(day=1)

    def in_months(c, k):  # c's month is month(R) or one of the k months before
        m = c.dt.truncate("1mo")
        return (m >= pl.lit(add_months(ms, -k))) & (m <= pl.lit(ms))

    persons = scan("persons").select(
        "person_id", "sgg_code", "insurance_type", "death_date",
        (pl.lit(R.year) - pl.col("birth_year")).alias("age"),
    )

    # claims: every per-person claim term in one pass (events after R ignored)
    st, en, kind, ct = pl.col("start_date"), pl.col("end_date"), pl.col("provider_kind"), pl.col("care_type")
    is_in = ct == "IN"
    claims = (
        scan("claims")
        .select("person_id", "provider_kind", "care_type", "start_date", "end_date")
        .filter((st <= pl.lit(R)) & ct.is_in(["IN", "ER"]))
        .group_by("person_id")
        .agg(
            # B5
            (is_in & (en.is_null() | (en > pl.lit(R)))).any().alias("in_hospital"),
            # §3 RECENT_DISCHARGE and its 요양병원 bonus (§5)
            (is_in & kind.is_in(DISCHARGE_KINDS) & last_days(en, 60).fill_null(False)
             & (((en - st).dt.total_days() >= 14).fill_null(False) | (kind == LTCH_KIND)))
            .any().alias("discharge"),
            (is_in & (kind == LTCH_KIND) & last_days(en, 60).fill_null(False)).any().alias("discharge_ltch"),
            # §3 INHOME_LTC complex needs
            (is_in & last_days(en, 365).fill_null(False)).any().alias("stay_ended_year"),
            # §5
            ((ct == "ER") & last_days(st, 180)).sum().alias("er_visits"),
            (is_in & last_days(st, 365)).sum().alias("admissions"),
        )
    )

    # §2 condition groups: diagnoses on claims of the last 365 days
    dx_claims = scan("claims").select("claim_id", "person_id", "start_date").filter(last_days(st, 365)).select("claim_id", "person_id")
    all_prefixes = [p for ps, _ in GROUPS.values() for p in ps]
    code = pl.col("dx_code")
    any_prefix = pl.any_horizontal([code.str.starts_with(p) for p in all_prefixes])
    # The claims on the left: with the diagnoses on the left, the streaming join held 9.6 GB
    # at 1M persons (23.7 s for this part alone) and was killed at 3M; this way 3.5 GB (9.9 s).
    dx = (
        dx_claims
        .join(scan("diagnoses").select("claim_id", "dx_code").filter(any_prefix), on="claim_id", how="inner")
        .group_by("person_id")
        .agg([
            pl.any_horizontal([code.str.starts_with(p) for p in ps]).any().alias(f"g_{g}")
            for g, (ps, _) in GROUPS.items()
        ])
        .select(
            "person_id",
            pl.sum_horizontal([pl.col(f"g_{g}").cast(pl.Int32) for g in GROUPS]).alias("chronic_groups"),
            pl.sum_horizontal([pl.col(f"g_{g}").cast(pl.Int32) * pts for g, (_, pts) in GROUPS.items()]).alias("cond_points"),
        )
    )

    # §5 polypharmacy
    rx = (
        scan("prescriptions").select("person_id", "ingredient_code", "start_date")
        .filter(last_days(pl.col("start_date"), 90))
        .select("person_id", "ingredient_code").unique()
        .group_by("person_id").agg(pl.len().alias("ingredients"))
    )

    asmt = scan("ltc_assessments").select("application_id", "person_id", "application_date", "status", "decision_date", "grade")
    dd = pl.col("decision_date")
    # §3 OUT_OF_GRADE_AB: latest decided assessment (greatest decision_date <= R, ties ->
    # greatest application_id): grade A/B, decided in the last 365 days
    oog = (
        asmt.filter((pl.col("status") == "DECIDED") & dd.is_not_null() & (dd <= pl.lit(R)))
        .group_by("person_id")
        .agg(pl.col("grade").sort_by(["decision_date", "application_id"]).last(), dd.max())
        .filter(pl.col("grade").is_in(["A", "B"]) & last_days(dd, 365))
        .select("person_id", pl.col("grade").alias("oog_grade"))
    )
    # §3 LTC_PENDING
    pending = (
        asmt.filter(last_days(pl.col("application_date"), 90) & (pl.col("status") != "WITHDRAWN")
                    & (dd.is_null() | (dd > pl.lit(R))))
        .select("person_id").unique().with_columns(pl.lit(True).alias("c_pending"))
    )

    # ltc_services: B4 facility, §3 in-home use
    sm, stype = pl.col("service_month"), pl.col("service_type")
    svc = (
        scan("ltc_services").select("person_id", "service_month", "service_type")
        .group_by("person_id")
        .agg(
            ((stype == "FACILITY") & in_months(sm, 1)).any().alias("facility"),
            (stype.is_in(INHOME_SERVICES) & in_months(sm, 2)).any().alias("inhome_use"),
        )
    )

    # §4 suppression
    em, pst = pl.col("event_month"), pl.col("status")
    suppressed = (
        scan("program_history").select("person_id", "event_month", "status")
        .filter(((pst == "ENROLLED") & (em.dt.truncate("1mo") <= pl.lit(ms)))
                | (pst.is_in(["SENT", "DECLINED"]) & in_months(em, 6)))
        .select("person_id").unique()
    )

    f = (
        persons
        .filter((pl.col("age") >= MIN_AGE)                                             # B1
                & (pl.col("death_date").is_null() | (pl.col("death_date") > pl.lit(R)))  # B2
                & pl.col("sgg_code").is_not_null())                                    # B3
        .join(suppressed, on="person_id", how="anti")                                  # §4
        .join(claims, on="person_id", how="left")
        .join(svc, on="person_id", how="left")
        .filter(~pl.col("in_hospital").fill_null(False) & ~pl.col("facility").fill_null(False))  # B5, B4
        .join(dx, on="person_id", how="left")
        .join(rx, on="person_id", how="left")
        .join(oog, on="person_id", how="left")
        .join(pending, on="person_id", how="left")
        .with_columns(
            pl.col("discharge", "discharge_ltch", "stay_ended_year", "inhome_use", "c_pending").fill_null(False),
            pl.col("er_visits", "admissions", "chronic_groups", "cond_points", "ingredients").fill_null(0),
        )
        .with_columns(
            pl.col("discharge").alias("c_discharge"),
            pl.col("oog_grade").is_not_null().alias("c_oog"),
            (pl.col("inhome_use") & ((pl.col("chronic_groups") >= 2) | pl.col("stay_ended_year"))).alias("c_inhome"),
        )
        .filter(pl.col("c_discharge") | pl.col("c_oog") | pl.col("c_pending") | pl.col("c_inhome"))  # §3
    )

    def pts(cond, p):
        return pl.when(cond).then(p).otherwise(0)

    age = pl.col("age")
    score = (
        pts(pl.col("c_discharge"), 40)
        + pts(pl.col("c_discharge") & pl.col("discharge_ltch"), 10)
        + pl.when(pl.col("oog_grade") == "A").then(25).when(pl.col("oog_grade") == "B").then(20).otherwise(0)
        + pts(pl.col("c_pending"), 15)
        + pts(pl.col("c_inhome"), 20)
        + pl.when(age >= 85).then(20).when(age >= 75).then(10).otherwise(0)
        + pts(pl.col("insurance_type").is_in(["MA1", "MA2"]), 10)
        + pl.col("cond_points")
        + pts(pl.col("ingredients") >= 10, 10)
        + pts(pl.col("er_visits") >= 2, 10)
        + pts(pl.col("admissions") >= 2, 10)
    ).cast(pl.Int64)
    cohorts = pl.concat_str(
        [
            pl.when(pl.col("c_discharge")).then(pl.lit("RECENT_DISCHARGE")),
            pl.when(pl.col("c_oog")).then(pl.lit("OUT_OF_GRADE_AB")),
            pl.when(pl.col("c_pending")).then(pl.lit("LTC_PENDING")),
            pl.when(pl.col("c_inhome")).then(pl.lit("INHOME_LTC")),
        ],
        separator=";",
        ignore_nulls=True,
    )
    return (
        f.select("sgg_code", "person_id", score.alias("score"), cohorts.alias("cohorts"))
        # §6: within each sgg_code, score descending then person_id ascending (byte order)
        .sort(["sgg_code", "score", "person_id"], descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("sgg_code").alias("rank"))
        .filter(pl.col("rank") <= cap)
        .select("sgg_code", "rank", "person_id", "score", "cohorts")
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of")
    ap.add_argument("--cap", type=int, default=300)
    ap.add_argument("--out", required=True)
    ap.add_argument("--explain", action="store_true", help="print the optimised plan")
    a = ap.parse_args()
    R = dt.date.fromisoformat(a.as_of or as_of_from_extract(a.data))
    q = build(a.data, R, a.cap)
    if a.explain:
        print(q.explain(engine="streaming"))
    q.collect(engine="streaming").write_csv(a.out)


if __name__ == "__main__":
    main()
