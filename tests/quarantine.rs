//! Rows that break the data contract: set aside into `quarantine/<table>.csv` with a reason
//! and counted in the manifest (the default), or a stop with exit 3 (`--strict`, or past
//! `--max-bad-rows`). The clean rows still give the right lists.

mod common;

use std::path::Path;

use common::build::*;
use common::{balgul, text};

/// Four people in 11110, all mid-way through an LTC application; two of the four persons
/// rows and two of the eight claims rows break the contract.
fn dirty_extract(dir: &Path) {
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.person("B", 80, "11110").pending("B");
    b.person("EVIL", 70, "../../x").pending("EVIL");
    b.persons_raw("SEXX,1950,X,11110,NHI,5,false,")
        .pending("SEXX");
    for pid in ["A", "B"] {
        for k in 1..=3 {
            b.claim(pid, "01", "OUT", &d(-10 * k), None);
        }
    }
    b.claims_raw("CBAD,A,H1,11,IN,2026-10-10,2026-10-01,1000");
    b.claims_raw("CNEG,B,H1,01,OUT,2026-10-01,2026-10-01,-5");
    b.write(dir);
}

fn run_args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let rules = Box::leak(default_rules().display().to_string().into_boxed_str());
    let mut v = vec!["run", "--data", data, "--rules", rules, "--out", out];
    v.extend_from_slice(extra);
    v
}

#[test]
fn broken_rows_are_set_aside_with_their_reason_and_counted_in_the_manifest() {
    let data = tempfile::tempdir().unwrap();
    dirty_extract(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (d, o) = (
        data.path().to_str().unwrap(),
        out.to_str().unwrap().to_string(),
    );
    let res = balgul(&run_args(d, &o, &["--max-bad-rows", "60%"]));
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    let persons = std::fs::read_to_string(out.join("quarantine/persons.csv")).unwrap();
    let lines: Vec<&str> = persons.lines().collect();
    assert_eq!(
        lines[0],
        "person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date,reason"
    );
    assert_eq!(lines.len(), 3, "{persons}");
    assert!(lines[1].starts_with("EVIL,") && lines[1].ends_with(",format:sgg_code"));
    assert!(lines[2].starts_with("SEXX,") && lines[2].ends_with(",enum:sex"));

    let claims = std::fs::read_to_string(out.join("quarantine/claims.csv")).unwrap();
    let reasons: Vec<&str> = claims
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(reasons, ["end_before_start", "negative:cost_krw"]);

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let q = &m["rows_set_aside"];
    assert_eq!(q[0]["table"], "persons");
    assert_eq!(q[0]["rows"], 4);
    assert_eq!(q[0]["rows_set_aside"], 2);
    assert_eq!(q[0]["rules_rows"][0]["rule"], "enum:sex");
    assert_eq!(q[0]["rules_rows"][0]["rows"], 1);
    assert_eq!(q[0]["rules_rows"][1]["rule"], "format:sgg_code");
    assert_eq!(q[1]["table"], "claims");
    assert_eq!(q[1]["rows_set_aside"], 2);

    // The clean rows give the list: A and B, and nobody whose persons row was set aside.
    let list = std::fs::read_to_string(out.join("candidates.csv")).unwrap();
    let ids: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(ids, ["B", "A"]);
    let files: Vec<String> = std::fs::read_dir(out.join("by-municipality"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files, ["11110.csv"]);
}

#[test]
fn strict_stops_at_the_first_broken_rule_with_exit_3_and_three_examples() {
    let data = tempfile::tempdir().unwrap();
    dirty_extract(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (d, o) = (
        data.path().to_str().unwrap(),
        out.to_str().unwrap().to_string(),
    );
    let res = balgul(&run_args(d, &o, &["--strict"]));
    assert_eq!(res.status.code(), Some(3), "{}", text(&res));
    let t = text(&res);
    assert!(
        t.contains("persons: 1 rows break the rule `enum:sex`"),
        "{t}"
    );
    assert!(t.contains("row 4: person_id=SEXX"), "{t}");
    assert!(t.contains("drop --strict"), "{t}");
    assert!(!out.exists());
}

#[test]
fn too_many_broken_rows_stop_the_run_with_exit_3() {
    let data = tempfile::tempdir().unwrap();
    dirty_extract(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (d, o) = (
        data.path().to_str().unwrap(),
        out.to_str().unwrap().to_string(),
    );
    // The default threshold is 1% of a table's rows; here half the persons are broken.
    let res = balgul(&run_args(d, &o, &[]));
    assert_eq!(res.status.code(), Some(3), "{}", text(&res));
    let t = text(&res);
    assert!(
        t.contains("persons: 2 of 4 rows (50.000%) break the data contract, more than --max-bad-rows 1.000%"),
        "{t}"
    );
    assert!(!out.exists());
    // A threshold that is not a share is bad usage.
    let res = balgul(&run_args(d, &o, &["--max-bad-rows", "lots"]));
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("`lots` is not a share of rows"));
}

#[test]
fn a_clean_extract_sets_nothing_aside() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.claim("A", "01", "OUT", &d(-3), None);
    b.write(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (d, o) = (
        data.path().to_str().unwrap(),
        out.to_str().unwrap().to_string(),
    );
    let res = balgul(&run_args(d, &o, &["--strict"]));
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    assert!(!out.join("quarantine").exists());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["rows_set_aside"], serde_json::json!([]));
}

/// Regression: the rows set aside were counted by a separate "any rule broken" sum; they are
/// now counted from the rows themselves. A row that breaks two rules is one row set aside,
/// and counts once under each rule.
#[test]
fn a_row_breaking_two_rules_is_set_aside_once_and_counted_under_both() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.persons_raw("TWO,1950,X,1111,NHI,5,false,").pending("TWO");
    b.claim("A", "01", "OUT", &d(-10), None);
    b.write(data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (d, o) = (
        data.path().to_str().unwrap(),
        out.to_str().unwrap().to_string(),
    );
    let res = balgul(&run_args(d, &o, &["--max-bad-rows", "60%"]));
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    let persons = std::fs::read_to_string(out.join("quarantine/persons.csv")).unwrap();
    assert_eq!(persons.lines().count(), 2, "{persons}");
    assert!(
        persons
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(",enum:sex; format:sgg_code"),
        "{persons}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let q = &m["rows_set_aside"][0];
    assert_eq!(q["table"], "persons");
    assert_eq!(q["rows"], 2);
    assert_eq!(q["rows_set_aside"], 1);
    assert_eq!(q["rules_rows"][0]["rows"], 1);
    assert_eq!(q["rules_rows"][1]["rows"], 1);
}

/// In Parquet the rules on a column the table's pass does not decode are counted each by a
/// filter of its own (Polars answers them from statistics and dictionaries), the others in the
/// pass; in CSV all in the pass. Both must set aside the same rows for the same reasons: a row
/// breaking two rules counted alone (`TWO`), or one counted alone and one in the pass
/// (`CBOTH`), is one row. An enumeration is checked by `is_in` alone (`provider_kind`) and by
/// comparisons in the pass (`care_type`, which `end_not_start` reads); a null in an
/// enumerated column that may be null (the grade of the pending applications, checked in the
/// pass) breaks nothing.
#[test]
fn parquet_and_csv_set_aside_the_same_rows_for_the_same_reasons() {
    let csv = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.person("B", 80, "11110").pending("B");
    b.persons_raw("TWO,1950,X,1111,NHI,5,false,").pending("TWO");
    for pid in ["A", "B"] {
        for k in 1..=3 {
            b.claim(pid, "01", "OUT", &d(-10 * k), None);
        }
    }
    b.claims_raw("CBAD,A,H1,11,IN,2026-10-10,2026-10-01,1000");
    b.claims_raw("CNEG,B,H1,01,OUT,2026-10-01,2026-10-01,-5");
    b.claims_raw("CBOTH,B,H1,01,IN,2026-10-10,2026-10-01,-7");
    b.claims_raw("CKIND,A,H1,ZZ,OUT,2026-10-01,2026-10-01,100");
    b.claims_raw("CTYPE,B,H1,01,XX,2026-10-01,2026-10-01,100");
    b.write(csv.path());
    let parquet = tempfile::tempdir().unwrap();
    for t in balgul::contract::TABLES {
        let df = common::frame_of(csv.path(), t.name);
        common::write_parquet(&parquet.path().join(format!("{}.parquet", t.name)), &df);
    }
    std::fs::copy(
        csv.path().join("extract.toml"),
        parquet.path().join("extract.toml"),
    )
    .unwrap();

    let root = tempfile::tempdir().unwrap();
    let run = |data: &Path, name: &str| {
        let out = root.path().join(name);
        let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap().to_string());
        let res = balgul(&run_args(d, &o, &["--max-bad-rows", "60%"]));
        assert_eq!(res.status.code(), Some(0), "{}", text(&res));
        out
    };
    let (from_csv, from_parquet) = (run(csv.path(), "csv"), run(parquet.path(), "parquet"));
    let set_aside = |out: &Path| {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        m["rows_set_aside"].clone()
    };
    let q = set_aside(&from_parquet);
    assert_eq!(q[0]["table"], "persons");
    assert_eq!(q[0]["rows_set_aside"], 1);
    assert_eq!(q[0]["rules_rows"][0]["rule"], "enum:sex");
    assert_eq!(q[0]["rules_rows"][0]["rows"], 1);
    assert_eq!(q[0]["rules_rows"][1]["rule"], "format:sgg_code");
    assert_eq!(q[0]["rules_rows"][1]["rows"], 1);
    assert_eq!(q[1]["table"], "claims");
    assert_eq!(q[1]["rows"], 11);
    assert_eq!(q[1]["rows_set_aside"], 5);
    let rules = common::rules_rows(&q[1]);
    assert_eq!(
        rules,
        [
            ("enum:provider_kind".to_string(), 1),
            ("enum:care_type".to_string(), 1),
            ("negative:cost_krw".to_string(), 2),
            ("end_before_start".to_string(), 2)
        ]
    );
    // The pending applications' null grades break no rule: TWO's is an orphan (its persons
    // row was set aside), and that is all.
    assert_eq!(q.as_array().unwrap().len(), 3, "{q}");
    assert_eq!(q[2]["table"], "ltc_assessments");
    assert_eq!(
        common::rules_rows(&q[2]),
        [("orphan:person_id".to_string(), 1)]
    );
    assert_eq!(q, set_aside(&from_csv));
    for f in [
        "quarantine/persons.csv",
        "quarantine/claims.csv",
        "candidates.csv",
    ] {
        assert_eq!(
            std::fs::read_to_string(from_parquet.join(f)).unwrap(),
            std::fs::read_to_string(from_csv.join(f)).unwrap(),
            "{f}"
        );
    }
    let claims = std::fs::read_to_string(from_parquet.join("quarantine/claims.csv")).unwrap();
    assert!(
        claims
            .lines()
            .any(|l| l.starts_with("CBOTH,") && l.ends_with(",negative:cost_krw; end_before_start")),
        "{claims}"
    );
}

/// Two people (A, B, pending an LTC decision) with three clean claims each.
fn two_people_with_claims() -> Build {
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.person("B", 80, "11110").pending("B");
    for pid in ["A", "B"] {
        for k in 1..=3 {
            b.claim(pid, "01", "OUT", &d(-10 * k), None);
        }
    }
    b
}

/// The CSV extract in `csv` with its claims replaced by `claims` as two Parquet parts: row i
/// in part `part[i]`, part k written with statistics when `stats(k)` (else without any).
fn claims_in_two_parts(
    csv: &Path,
    claims: &polars::prelude::DataFrame,
    part: &[usize],
    stats: impl Fn(usize) -> bool,
) -> tempfile::TempDir {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(csv).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "claims.csv" {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("claims")).unwrap();
    for k in 0..2 {
        let mask: BooleanChunked = part.iter().map(|p| *p == k).collect();
        let mut rows = claims.filter(&mask).unwrap();
        let options = match stats(k) {
            true => StatisticsOptions::full(),
            false => StatisticsOptions::empty(),
        };
        let f = std::fs::File::create(dir.path().join(format!("claims/part-{k}.parquet"))).unwrap();
        ParquetWriter::new(f)
            .with_statistics(options)
            .finish(&mut rows)
            .unwrap();
    }
    dir
}

/// Regression for the footers' null counts standing in for a scan: a column that may not be
/// empty and that the row-rule pass does not read (`provider_id`, `cost_krw` of the claims) is
/// not scanned for nulls when every row group of every Parquet part counts none in its
/// statistics. A null must still be found when its part's footer counts it, and when a part
/// was written without statistics (then no count is trusted and the column is scanned).
#[test]
fn nulls_in_parquet_parts_are_found_whether_the_footers_count_them_or_not() {
    use balgul::extract::Extract;

    let csv = tempfile::tempdir().unwrap();
    let mut b = two_people_with_claims();
    b.claims_raw("CNOPROV,A,,01,OUT,2026-10-01,2026-10-01,100");
    b.claims_raw("CNOCOST,B,H1,01,OUT,2026-10-01,2026-10-01,");
    b.write(csv.path());
    let claims = common::frame_of(csv.path(), "claims");
    let ids = claims.column("claim_id").unwrap().str().unwrap().clone();

    let columns = ["provider_id", "cost_krw", "care_type"];
    // Part 0: A's claims (the null provider), part 1: B's (the null cost).
    let part: Vec<usize> = claims
        .column("person_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|p| usize::from(p == Some("B")))
        .collect();
    for stats_in_second_part in [true, false] {
        let dir = claims_in_two_parts(csv.path(), &claims, &part, |k| {
            k == 0 || stats_in_second_part
        });
        let mut ex = Extract::open(dir.path()).unwrap();
        let counted: Vec<Option<u64>> = ex
            .table("claims")
            .footer_statistics(&columns)
            .into_iter()
            .map(|f| f.nulls)
            .collect();
        if stats_in_second_part {
            assert_eq!(counted, [Some(1), Some(1), Some(0)]);
        } else {
            assert_eq!(counted, [None, None, None]);
        }
        let set_aside = balgul::validate::validate(&mut ex, r()).unwrap();
        assert_eq!(
            set_aside.len(),
            1,
            "stats in part 1: {stats_in_second_part}"
        );
        let claims_set_aside = &set_aside[0];
        assert_eq!(claims_set_aside.table, "claims");
        assert_eq!(claims_set_aside.rows_total, ids.len() as u64);
        assert_eq!(claims_set_aside.rows_set_aside, 2);
        let rules: Vec<(&str, u64)> = claims_set_aside
            .rules
            .iter()
            .map(|v| (v.rule.as_str(), v.rows))
            .collect();
        assert_eq!(rules, [("null:provider_id", 1), ("null:cost_krw", 1)]);
    }
}

/// Regression for the footers' least and greatest values standing in for a scan: a rule on a
/// column the row-rule pass does not read (`negative:cost_krw`, `empty:provider_id` of the
/// claims) is settled at 0 when every row group's statistics show every value accepted. A
/// negative cost and an empty provider must still be found when their part's footer shows
/// them, and when a part was written without statistics; a cost of exactly 0 is accepted.
#[test]
fn values_out_of_bounds_in_parquet_parts_are_found_whether_the_footers_show_them_or_not() {
    use balgul::extract::{Extract, FooterValue};
    use polars::prelude::*;

    let csv = tempfile::tempdir().unwrap();
    let mut b = two_people_with_claims();
    b.claims_raw("CZERO,A,H1,01,OUT,2026-10-01,2026-10-01,0");
    b.claims_raw("CNEG,A,H1,01,OUT,2026-10-01,2026-10-01,-1");
    b.claims_raw("CEMPTY,B,H1,01,OUT,2026-10-01,2026-10-01,100");
    b.write(csv.path());
    // A CSV field cannot hold an empty string apart from a null: set it in the frame.
    let claims = common::frame_of(csv.path(), "claims")
        .lazy()
        .with_column(
            when(col("claim_id").eq(lit("CEMPTY")))
                .then(lit(""))
                .otherwise(col("provider_id"))
                .alias("provider_id"),
        )
        .collect()
        .unwrap();
    let ids = claims.column("claim_id").unwrap().len() as u64;

    let columns = ["cost_krw", "provider_id"];
    for (clean_part, stats_in_other_part) in [(0, true), (1, true), (0, false)] {
        // The broken rows (and CZERO) in one part, every other claim in the clean one.
        let broken = ["CZERO", "CNEG", "CEMPTY"];
        let part: Vec<usize> = claims
            .column("claim_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|c| match broken.contains(&c.unwrap()) {
                true => 1 - clean_part,
                false => clean_part,
            })
            .collect();
        let dir = claims_in_two_parts(csv.path(), &claims, &part, |k| {
            k == clean_part || stats_in_other_part
        });
        let mut ex = Extract::open(dir.path()).unwrap();
        let footers = ex.table("claims").footer_statistics(&columns);
        let case = format!("clean part {clean_part}, stats in the other: {stats_in_other_part}");
        if stats_in_other_part {
            assert_eq!(footers[0].min, Some(FooterValue::Int(-1)), "{case}");
            assert_eq!(
                footers[1].min,
                Some(FooterValue::Text(Vec::new())),
                "{case}"
            );
            assert_eq!(footers[1].max, None, "{case}: text has no trusted max");
        } else {
            assert_eq!(footers[0].min, None, "{case}");
            assert_eq!(footers[1].min, None, "{case}");
        }
        let set_aside = balgul::validate::validate(&mut ex, r()).unwrap();
        assert_eq!(set_aside.len(), 1, "{case}");
        let claims_set_aside = &set_aside[0];
        assert_eq!(claims_set_aside.table, "claims");
        assert_eq!(claims_set_aside.rows_total, ids, "{case}");
        assert_eq!(claims_set_aside.rows_set_aside, 2, "{case}");
        let rules: Vec<(&str, u64)> = claims_set_aside
            .rules
            .iter()
            .map(|v| (v.rule.as_str(), v.rows))
            .collect();
        assert_eq!(
            rules,
            [("empty:provider_id", 1), ("negative:cost_krw", 1)],
            "{case}"
        );
    }
}
