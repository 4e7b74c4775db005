//! The rows validation keeps in memory for the features (`plan::rows_wanted`,
//! `validate::validate_keeping`): the claims the features may count are kept as the claims'
//! row-rule pass reads them, and the features read them instead of scanning the claims again.
//! A run must give exactly the person frame it gives from scans, on the edges of every window,
//! with ties, open stays and rows set aside.

mod common;

use std::path::Path;

use common::build::*;
use polars::prelude::*;

/// Six people with stays and emergency visits on the edges of the default rules' windows
/// (discharges 60 days, stays 365, emergency visits 180): R−60 (out), R−59 and R (in), R+1
/// (after R); an open stay; two stays of one person ending and starting on the same days
/// (the latest is the one with the greater claim id); a person with no claim at all.
fn extract() -> Build {
    let mut b = Build::new();
    for p in ["A", "B", "C", "D", "E", "F"] {
        b.person(p, 78, "11110").pending(p);
    }
    b.stay("A", "01", &d(-80), Some(&d(-60)));
    b.stay("A", "28", &d(-70), Some(&d(-59)));
    b.stay("B", "11", &d(-20), Some(&d(0)));
    b.stay("B", "11", &d(-3), Some(&d(1)));
    b.stay("C", "01", &d(-5), None);
    b.stay("D", "01", &d(-30), Some(&d(-20)));
    b.stay("D", "28", &d(-30), Some(&d(-20)));
    b.claim("E", "31", "ER", &d(-180), None);
    b.claim("E", "31", "ER", &d(-179), None);
    b.claim("E", "31", "ER", &d(0), None);
    b.claim("E", "31", "ER", &d(1), None);
    b.stay("E", "01", &d(-365), Some(&d(-360)));
    b.stay("E", "01", &d(-364), Some(&d(-360)));
    b
}

/// The person frame of a run over the extract in `dir`, validated keeping the rows the
/// features want (`keep`) or not, sorted by person; and the rows kept of the claims.
fn frame(dir: &Path, keep: bool) -> (DataFrame, Option<usize>) {
    let (ex, _, df) = validated_person_frame(dir, keep);
    let kept = ex.table("claims").kept_rows().map(|k| k.rows.height());
    (df, kept)
}

#[test]
fn features_from_the_kept_claims_equal_those_from_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    extract().write(dir.path());
    let (scanned, none) = frame(dir.path(), false);
    let (kept, rows) = frame(dir.path(), true);
    assert_eq!(none, None);
    // The claims some feature's cheap predicate holds for: every stay (each ends or starts
    // within a year, or is open or ends after R) and E's emergency visits at R−179 and R;
    // not those at R−180 (out of the window) and R+1 (after R).
    assert_eq!(rows, Some(11));
    assert_eq!(kept, scanned);
    // The reference is itself right on the edges.
    assert_eq!(person_int(&scanned, "A", "discharges"), Some(1));
    assert_eq!(person_int(&scanned, "B", "discharges"), Some(1));
    assert_eq!(person_int(&scanned, "E", "er_visits"), Some(2));
    assert_eq!(person_int(&scanned, "F", "discharges"), Some(0));
}

#[test]
fn a_claim_set_aside_keeps_no_claims_for_the_features() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = extract();
    b.claims_raw(&format!("CNEG,A,H1,01,IN,{},{},-5", d(-20), d(-10)));
    b.write(dir.path());
    let (scanned, _) = frame(dir.path(), false);
    let (kept, rows) = frame(dir.path(), true);
    assert_eq!(rows, None);
    assert_eq!(kept, scanned);
    // The stay set aside is not counted either way.
    assert_eq!(person_int(&scanned, "A", "discharges"), Some(1));
}
