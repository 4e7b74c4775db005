#!/usr/bin/env python3
"""Profile a synthetic extract: row counts and the key distributions that
docs/synthetic-data.md compares with published figures.

usage: scripts/synth-profile.py EXTRACT_DIR   (needs the duckdb Python package;
       scripts/setup-venv.sh installs it into bench-data/.venv)
"""
import sys
import tomllib
from pathlib import Path

import duckdb

d = Path(sys.argv[1])
as_of = tomllib.loads((d / "extract.toml").read_text())["as_of"]


def src(t):
    if (d / t).is_dir():
        return f"read_parquet('{d / t}/*.parquet')"
    if (d / f"{t}.parquet").exists():
        return f"read_parquet('{d / t}.parquet')"
    return f"read_csv_auto('{d / t}.csv', all_varchar=true)"


con = duckdb.connect()
for t in ["persons", "claims", "diagnoses", "prescriptions", "ltc_assessments", "ltc_services", "program_history"]:
    con.execute(f"create view {t} as select * from {src(t)}")
con.execute(f"create macro age(b) as year(date '{as_of}') - cast(b as int)")


def table(title, sql):
    rows = con.execute(sql).fetchall()
    cols = [c[0] for c in con.description]
    print(f"\n### {title}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in r) + " |")


table("Rows per table", """
select 'persons' as "table", count(*) as "rows" from persons union all
select 'claims', count(*) from claims union all select 'diagnoses', count(*) from diagnoses union all
select 'prescriptions', count(*) from prescriptions union all select 'ltc_assessments', count(*) from ltc_assessments union all
select 'ltc_services', count(*) from ltc_services union all select 'program_history', count(*) from program_history""")

table("Age structure (persons)", """
select case when age(birth_year) < 65 then 'under 65' when age(birth_year) < 75 then '65-74'
            when age(birth_year) < 85 then '75-84' else '85+' end as "age band",
       count(*) as persons, round(100.0 * count(*) / sum(count(*)) over (), 1) as "% of persons",
       round(100.0 * avg(case when sex = 'F' then 1 else 0 end), 1) as "% women",
       round(100.0 * avg(case when insurance_type <> 'NHI' then 1 else 0 end), 1) as "% 의료급여",
       round(100.0 * avg(case when cast(disability as varchar) = 'true' then 1 else 0 end), 1) as "% disabled"
from persons group by 1 order by 1""")

table("Care use per person and year, by age (days of care = outpatient/ER visit days + inpatient days)", f"""
with win as (select min(cast(start_date as date)) as s from claims),
c as (
  select person_id, care_type,
         case when care_type = 'IN' then least(coalesce(cast(end_date as date), date '{as_of}'), date '{as_of}') - cast(start_date as date) + 1 else 1 end as days
  from claims),
per as (
  select p.person_id, age(p.birth_year) as age,
         coalesce(sum(case when care_type in ('OUT','ER','IN') then days end), 0) as care_days,
         coalesce(sum(case when care_type = 'OUT' then 1 end), 0) as out_visits,
         coalesce(sum(case when care_type = 'IN' then 1 end), 0) as stays,
         coalesce(sum(case when care_type = 'ER' then 1 end), 0) as er
  from persons p left join c using (person_id) group by 1, 2)
select case when age < 65 then 'under 65' when age < 70 then '65-69' when age < 75 then '70-74' when age < 80 then '75-79'
            when age < 85 then '80-84' else '85+' end as "age band",
       round(avg(care_days) * 365.25 / (date '{as_of}' - (select s from win) + 1), 1) as "days of care / year",
       round(avg(out_visits) * 365.25 / (date '{as_of}' - (select s from win) + 1), 1) as "outpatient visits / year",
       round(avg(stays) * 365.25 / (date '{as_of}' - (select s from win) + 1), 2) as "inpatient stays / year",
       round(avg(er) * 365.25 / (date '{as_of}' - (select s from win) + 1), 2) as "ER visits / year"
from per group by 1 order by 1""")

table("Inpatient stays by provider kind (length of stay, discharged stays)", """
select provider_kind, count(*) as stays, median(cast(end_date as date) - cast(start_date as date)) as "median LOS",
       sum(case when end_date is null then 1 else 0 end) as "still admitted"
from claims where care_type = 'IN' group by 1 order by 1""")

table("Conditions on claims of the last 365 days (% of persons 65+)", f"""
with old as (select person_id from persons where age(birth_year) >= 65),
dx as (select distinct d.person_id, d.dx_code from diagnoses d join claims c using (claim_id)
       where cast(c.start_date as date) > date '{as_of}' - 365)
select g as "group", round(100.0 * count(distinct dx.person_id) / (select count(*) from old), 1) as "% of 65+"
from dx join old using (person_id),
     (values ('dementia F00-F03,G30', '^(F0[0-3]|G30)'), ('stroke I60-I64,I69', '^I6[0-49]'), ('hip fracture S72', '^S72'),
             ('parkinson G20', '^G20'), ('heart failure I50', '^I50'), ('COPD J43-J44', '^J4[34]'),
             ('CKD N18', '^N18'), ('depression F32-F33', '^F3[23]'), ('diabetes E10-E14', '^E1[0-4]')) v(g, re)
where regexp_matches(dx.dx_code, re) group by g order by 2 desc""")

table("LTC: latest decided grade of persons 65+ (certification share by age)", f"""
with latest as (
  select person_id, grade from (
    select *, row_number() over (partition by person_id order by cast(decision_date as date) desc, application_id desc) as rn
    from ltc_assessments where status = 'DECIDED') where rn = 1),
p as (select person_id, age(birth_year) as age from persons where age(birth_year) >= 65)
select case when age < 70 then '65-69' when age < 75 then '70-74' when age < 80 then '75-79' when age < 85 then '80-84' else '85+' end as "age band",
       count(*) as persons,
       round(100.0 * avg(case when grade in ('1','2','3','4','5','CS') then 1 else 0 end), 1) as "% certified (1-5, CS)",
       round(100.0 * avg(case when grade in ('A','B','C') then 1 else 0 end), 1) as "% 등급외 A/B/C"
from p left join latest using (person_id) group by 1 order by 1""")

table("LTC: grade mix of the certified", """
with latest as (
  select person_id, grade from (
    select *, row_number() over (partition by person_id order by cast(decision_date as date) desc, application_id desc) as rn
    from ltc_assessments where status = 'DECIDED') where rn = 1)
select grade, count(*) as persons, round(100.0 * count(*) / sum(count(*)) over (), 1) as "% of certified"
from latest where grade in ('1','2','3','4','5','CS') group by 1 order by 1""")

table("Services in the month of as_of", f"""
select service_type, count(distinct person_id) as persons, round(avg(cast(days as int)), 1) as "mean days"
from ltc_services where cast(service_month as date) = date_trunc('month', date '{as_of}') group by 1 order by 2 desc""")

table("Planted rarities", f"""
select 'persons with no claims' as what, count(*) as n from persons where person_id not in (select person_id from claims)
union all select 'deaths within the window', count(*) from persons where death_date is not null
union all select 'unknown residence (sgg_code null)', count(*) from persons where sgg_code is null
union all select 'heavy users (> 300 claims)', count(*) from (select person_id from claims group by 1 having count(*) > 300)
union all select 'stays still running at as_of', count(*) from claims where care_type = 'IN' and end_date is null
union all select 'pending LTC applications', count(*) from ltc_assessments where status = 'PENDING'""")
