//! The distinct counts validation takes during a table's row-rule pass for the
//! `count_distinct` features (`plan::rows_wanted`, `validate::distinct`): policy-v1's
//! ingredients in the last 90 days (text values) and in-home service months (dates). A run
//! must give exactly the person frame it gives from scans — on the window's edges, with an
//! ingredient repeated across days and persons, rows dated after R — and fall back to the
//! scan when a row of the table is set aside. (The tap's own cases — a person's rows across
//! chunks, nulls, values it does not take — are unit tests in `src/validate/distinct.rs`.)

mod common;

use std::path::Path;

use common::build::*;
use polars::prelude::*;

/// Persons with dispensings on the edges of the 90-day window and in-home services on the
/// edges of the 2-month window; D has neither.
fn extract() -> Build {
    let mut b = Build::new();
    for p in ["A", "B", "C", "D"] {
        b.person(p, 78, "11110").pending(p);
    }
    // A: R−90 is out, R−89 and R are in, R+1 is after R; 101 twice (two days), 102 in and
    // out of the window: 3 distinct ingredients (101, 102, 103).
    b.dispense("A", &d(-90), &["109000ATB", "102000ATB"]);
    b.dispense("A", &d(-89), &["101000ATB", "102000ATB"]);
    b.dispense("A", &d(0), &["101000ATB", "103000ATB"]);
    b.dispense("A", &d(1), &["104000ATB"]);
    // B: the same ingredient as A, and one ingredient twice on one day: 1.
    b.dispense("B", &d(-10), &["101000ATB", "101000ATB"]);
    // C: only out of the window: 0.
    b.dispense("C", &d(-200), &["105000ATB"]);
    b.service("A", &month(0), "HOME_CARE");
    b.service("A", &month(1), "HOME_BATH");
    b.service("A", &month(1), "HOME_CARE");
    b.service("B", &month(3), "HOME_CARE");
    b
}

/// The person frame of a run over the extract in `dir`, validated with the distinct counts
/// the features want taken in the pass (`keep`) or not, sorted by person; and whether the
/// prescriptions' count was taken.
fn frame(dir: &Path, keep: bool) -> (DataFrame, bool) {
    let (ex, rs, df) = validated_person_frame(dir, keep);
    let ingredients = rs
        .features
        .iter()
        .find(|f| f.name == "ingredients")
        .unwrap();
    let want = balgul::plan::distinct_wanted(ingredients, r()).unwrap();
    let taken = ex.table("prescriptions").kept_distinct(&want).is_some();
    (df, taken)
}

#[test]
fn distinct_counts_taken_in_the_pass_equal_those_from_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    extract().write(dir.path());
    let (scanned, not_taken) = frame(dir.path(), false);
    let (taken, was_taken) = frame(dir.path(), true);
    assert!(!not_taken);
    assert!(was_taken);
    assert_eq!(taken, scanned);
    // The reference is itself right on the edges.
    assert_eq!(person_int(&scanned, "A", "ingredients"), Some(3));
    assert_eq!(person_int(&scanned, "B", "ingredients"), Some(1));
    assert_eq!(person_int(&scanned, "C", "ingredients"), Some(0));
    assert_eq!(person_int(&scanned, "D", "ingredients"), Some(0));
    assert_eq!(person_int(&scanned, "A", "inhome_months"), Some(2));
    assert_eq!(person_int(&scanned, "B", "inhome_months"), Some(0));
}

#[test]
fn a_prescription_set_aside_takes_no_count_in_the_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = extract();
    // A negative days' supply breaks a row rule: the row is set aside.
    let c = b.claim("B", "81", "RX", &d(-3), None);
    b.rx_raw(&format!("{c},B,107000ATB,{},-30", d(-3)));
    b.write(dir.path());
    let (scanned, _) = frame(dir.path(), false);
    let (taken, was_taken) = frame(dir.path(), true);
    assert!(!was_taken);
    assert_eq!(taken, scanned);
    assert_eq!(person_int(&scanned, "B", "ingredients"), Some(1));
}
