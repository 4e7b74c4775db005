//! `balgul synth`: determinism (same arguments → same bytes, whatever the thread count) and
//! conformance of its output to the data contract.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use balgul::extract::Extract;
use balgul::synth::{self, Format, SynthConfig};
use chrono::NaiveDate;
use polars::prelude::*;

fn cfg(persons: usize, seed: u64, format: Format) -> SynthConfig {
    SynthConfig {
        persons,
        seed,
        as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        months: 15,
        min_age: 65,
        format,
    }
}

/// Every file under `dir`, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_gives_the_same_bytes_whatever_the_thread_count() {
    // 12,000 persons: two chunks, so Parquet is written as parts.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    one.install(|| synth::run(&cfg(12_000, 42, Format::Parquet), &a.path().join("x")).unwrap());
    four.install(|| synth::run(&cfg(12_000, 42, Format::Parquet), &b.path().join("x")).unwrap());
    let fa = files(&a.path().join("x"));
    assert!(
        fa.contains_key("claims/part-00001.parquet"),
        "{:?}",
        fa.keys()
    );
    assert_eq!(fa, files(&b.path().join("x")));
    // A different seed gives a different extract.
    synth::run(&cfg(12_000, 43, Format::Parquet), &c.path().join("x")).unwrap();
    assert_ne!(
        fa.get("persons/part-00000.parquet"),
        files(&c.path().join("x")).get("persons/part-00000.parquet")
    );
}

#[test]
fn csv_output_is_deterministic_and_equals_the_parquet_output() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let p = tempfile::tempdir().unwrap();
    let ra = synth::run(&cfg(1_500, 5, Format::Csv), a.path()).unwrap();
    synth::run(&cfg(1_500, 5, Format::Csv), b.path()).unwrap();
    assert_eq!(files(a.path()), files(b.path()));
    let rp = synth::run(&cfg(1_500, 5, Format::Parquet), p.path()).unwrap();
    assert_eq!(ra.rows, rp.rows);
    let (ea, ep) = (
        Extract::open(a.path()).unwrap(),
        Extract::open(p.path()).unwrap(),
    );
    for t in balgul::contract::TABLES {
        let x = ea.lazy(t.name).collect().unwrap();
        let y = ep.lazy(t.name).collect().unwrap();
        assert!(
            x.equals_missing(&y),
            "{} differs between CSV and Parquet",
            t.name
        );
    }
}

#[test]
fn output_meets_the_contract_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let report = synth::run(&cfg(3_000, 11, Format::Parquet), dir.path()).unwrap();
    let ex = Extract::open(dir.path()).unwrap();
    let as_of = ex.meta.as_of.unwrap();
    assert_eq!(as_of, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
    let violations = balgul::validate::check(&ex, as_of).unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    // Row counts reported are the rows written.
    for (t, n) in &report.rows {
        assert_eq!(balgul::extract::count_rows(ex.table(t)).unwrap(), *n, "{t}");
    }
    // Every table has rows, and nothing is dated after the reference date.
    for (t, n) in &report.rows {
        assert!(*n > 0, "{t} is empty");
    }
    let claims = ex.lazy("claims");
    let late = claims
        .filter(
            col("start_date")
                .gt(lit(as_of))
                .or(col("end_date").gt(lit(as_of))),
        )
        .collect()
        .unwrap();
    assert_eq!(late.height(), 0);
}

#[test]
fn min_age_and_planted_rarities() {
    let dir = tempfile::tempdir().unwrap();
    synth::run(&cfg(3_000, 3, Format::Parquet), dir.path()).unwrap();
    let ex = Extract::open(dir.path()).unwrap();
    let persons = ex.lazy("persons").collect().unwrap();
    let min_birth = persons
        .column("birth_year")
        .unwrap()
        .i32()
        .unwrap()
        .max()
        .unwrap();
    assert!(min_birth <= 2026 - 65);
    // 의료급여 members have no income decile.
    let aid = ex
        .lazy("persons")
        .filter(
            col("insurance_type")
                .neq(lit("NHI"))
                .and(col("income_decile").is_not_null()),
        )
        .collect()
        .unwrap();
    assert_eq!(aid.height(), 0);
    // Some people die, some have no claims, some are still admitted at R.
    assert!(persons.column("death_date").unwrap().null_count() < persons.height());
    let with_claims = ex
        .lazy("claims")
        .select([col("person_id").n_unique()])
        .collect()
        .unwrap();
    let n_with = with_claims
        .column("person_id")
        .unwrap()
        .get(0)
        .unwrap()
        .extract::<u64>()
        .unwrap();
    assert!(n_with < 3_000 && n_with > 2_500, "{n_with}");
    let admitted = ex
        .lazy("claims")
        .filter(
            col("care_type")
                .eq(lit("IN"))
                .and(col("end_date").is_null()),
        )
        .collect()
        .unwrap();
    assert!(admitted.height() > 0);
    // Every grade the contract knows appears in the assessments.
    let grades = ex
        .lazy("ltc_assessments")
        .select([col("grade").unique().sort(Default::default())])
        .collect()
        .unwrap();
    let g: Vec<&str> = grades
        .column("grade")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(g, ["1", "2", "3", "4", "5", "A", "B", "C", "CS"]);
}

#[test]
fn refuses_a_non_empty_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
    let err = synth::run(&cfg(10, 1, Format::Csv), dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.ends_with(
            "exists and is not empty: synth writes a new extract into an empty or new directory"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "x"
    );
}
