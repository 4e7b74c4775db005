//! The diagnoses joined to their claims part by part (`plan::shared_per_person_by_parts`):
//! when the claims and the diagnoses come in as many Parquet parts, part k of the diagnoses is
//! joined to part k of the claims and the rows whose claim is elsewhere are joined afterwards
//! to all the claims. Whatever the layout, a run must give exactly the person frame of one
//! join; these tests lay the same extract out in parts aligned, with a diagnosis in the wrong
//! part, and with every part's diagnoses in another part.

mod common;

use std::path::Path;

use balgul::extract::Extract;
use balgul::validate;
use common::build::*;
use polars::prelude::*;

/// Six people in three pairs, each pair's claims meant for one part. Dates at R−365 (out of
/// the window), R−364, R (in) and R+1 (after R); a claim set aside for a negative cost whose
/// dementia diagnosis is set aside with it (as an orphan). Returns the builder and two claims
/// to move: A's first (one diagnosis) and D's (three).
fn extract() -> (Build, [String; 2]) {
    let mut b = Build::new();
    for p in ["A", "B", "C", "D", "E", "F"] {
        b.person(p, 78, "11110").pending(p);
    }
    let [a1, d1] = b.diagnoses_across_the_window();
    b.claims_raw(&format!("CNEG,E,H1,31,OUT,{0},{0},-5", d(-10)));
    b.dx_raw("CNEG,E,F001,1");
    b.visit_dx("E", &d(-50), "I63");
    // F: no diagnosis at all.
    (b, [a1, d1])
}

/// The part (of three) each person's claims are written to.
fn part_of(person: &str) -> usize {
    match person {
        "A" | "B" => 0,
        "C" | "D" => 1,
        _ => 2,
    }
}

/// Rewrites `claims.csv` and `diagnoses.csv` of the CSV extract in `dir` as `claims/` and
/// `diagnoses/` of three Parquet parts: each claim in its person's part, each diagnosis in
/// the part `dx_part` gives (from its claim id and its person's part).
fn to_parts(dir: &Path, dx_part: impl Fn(&str, usize) -> usize) {
    let ex = Extract::open(dir).unwrap();
    for table in ["claims", "diagnoses"] {
        let df = ex.table(table).raw_lazy().collect().unwrap();
        let ids = df.column("claim_id").unwrap().str().unwrap().clone();
        let persons = df.column("person_id").unwrap().str().unwrap().clone();
        let assigned: Vec<usize> = ids
            .iter()
            .zip(persons.iter())
            .map(|(c, p)| {
                let own = part_of(p.unwrap());
                match table {
                    "claims" => own,
                    _ => dx_part(c.unwrap(), own),
                }
            })
            .collect();
        std::fs::create_dir(dir.join(table)).unwrap();
        for k in 0..3 {
            let mask: BooleanChunked = assigned.iter().map(|a| *a == k).collect();
            let mut part = df.filter(&mask).unwrap();
            let f =
                std::fs::File::create(dir.join(table).join(format!("part-{k}.parquet"))).unwrap();
            ParquetWriter::new(f).finish(&mut part).unwrap();
        }
        std::fs::remove_file(dir.join(format!("{table}.csv"))).unwrap();
    }
}

/// The person frame of a run (validated; the one row-rule violation and its orphan set
/// aside), sorted by person.
fn run_frame(dir: &Path, rules: &Path) -> DataFrame {
    let rs = balgul::rules::load(rules, r()).unwrap();
    let mut ex = Extract::open(dir).unwrap();
    let set_aside = validate::validate(&mut ex, r()).unwrap();
    let tables: Vec<&str> = set_aside.iter().map(|q| q.table).collect();
    assert_eq!(tables, ["claims", "diagnoses"]);
    assert!(ex.table("claims").key_hashes_distinct());
    balgul::plan::person_frame_with(&ex, &rs, Some(balgul::plan::JOIN_ROWS_PER_PASS))
        .unwrap()
        .sort(["person_id"], SortMultipleOptions::default())
        .collect()
        .unwrap()
}

/// How the diagnoses' shared features were joined on the extract in `dir`: `None` for one
/// join, else (parts, rows joined in their part, rows joined elsewhere).
fn layout(dir: &Path, rules: &Path) -> Option<(usize, u64, u64)> {
    layout_within(dir, rules, balgul::plan::ELSEWHERE_MAX_ROWS)
}

/// [`layout`] with at most `max` rows joined elsewhere.
fn layout_within(dir: &Path, rules: &Path, max: u64) -> Option<(usize, u64, u64)> {
    let rs = balgul::rules::load(rules, r()).unwrap();
    let mut ex = Extract::open(dir).unwrap();
    validate::validate(&mut ex, r()).unwrap();
    let feats: Vec<&balgul::ir::Feature> = rs
        .features
        .iter()
        .filter(|f| f.table == "diagnoses")
        .collect();
    balgul::plan::shared_per_person_by_parts(&ex, "diagnoses", r(), &feats, max)
        .unwrap()
        .map(|b| (b.parts, b.rows_in_their_part, b.rows_elsewhere))
}

/// One join over the CSV extract, the reference the parts must reproduce.
fn one_join(rules: &Path) -> DataFrame {
    let dir = tempfile::tempdir().unwrap();
    extract().0.write(dir.path());
    let one = run_frame(dir.path(), rules);
    // The reference is itself right: the window's values, the set-aside claim not counted.
    assert_eq!(person_int(&one, "A", "conditions"), Some(3));
    assert_eq!(person_int(&one, "A", "dx_rows"), Some(4));
    assert_eq!(person_int(&one, "B", "conditions"), Some(0));
    assert_eq!(person_int(&one, "B", "dx_rows"), Some(1));
    assert_eq!(person_int(&one, "C", "conditions"), Some(1));
    assert_eq!(person_int(&one, "D", "conditions"), Some(3));
    assert_eq!(person_int(&one, "D", "dx_orders"), Some(6));
    assert_eq!(person_int(&one, "E", "conditions"), Some(1));
    assert_eq!(person_int(&one, "E", "dx_rows"), Some(1));
    assert_eq!(person_int(&one, "F", "dx_rows"), Some(0));
    one
}

fn in_parts(dx_part: impl Fn(&str, usize) -> usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    extract().0.write(dir.path());
    to_parts(dir.path(), dx_part);
    dir
}

#[test]
fn diagnoses_in_their_claims_parts_are_joined_part_by_part_to_the_values_of_one_join() {
    let (_r, rules) = rules_with_dx_features_of_every_kind();
    let one = one_join(&rules);
    let dir = in_parts(|_, own| own);
    // 13 diagnoses kept (CNEG's set aside), every one in its claim's part.
    assert_eq!(layout(dir.path(), &rules), Some((3, 13, 0)));
    let parts = run_frame(dir.path(), &rules);
    assert!(one.equals_missing(&parts), "{one}\n{parts}");
}

#[test]
fn a_diagnosis_in_another_part_than_its_claim_is_joined_to_it_afterwards() {
    let (_r, rules) = rules_with_dx_features_of_every_kind();
    let one = one_join(&rules);
    // A's first claim's diagnosis (F001 at R−364, the window's first day) is written in part
    // 2 with E's and F's rows; the three diagnoses of D's claim in part 0 with A's and B's.
    let [a1, d1] = extract().1;
    let dir = in_parts(|claim, own| {
        if claim == a1 {
            2
        } else if claim == d1 {
            0
        } else {
            own
        }
    });
    let (parts, here, elsewhere) = layout(dir.path(), &rules).unwrap();
    assert_eq!((parts, here + elsewhere), (3, 13));
    assert_eq!(elsewhere, 4);
    // Four rows held are within a limit of four, not of three (the run would then use one
    // join, to the same values).
    assert_eq!(layout_within(dir.path(), &rules, 4), Some((3, 9, 4)));
    assert_eq!(layout_within(dir.path(), &rules, 3), None);
    let parts = run_frame(dir.path(), &rules);
    assert!(one.equals_missing(&parts), "{one}\n{parts}");
}

#[test]
fn parts_whose_diagnoses_are_all_elsewhere_fall_back_to_one_join() {
    let (_r, rules) = rules_with_dx_features_of_every_kind();
    let one = one_join(&rules);
    let dir = in_parts(|_, own| (own + 1) % 3);
    assert_eq!(layout(dir.path(), &rules), None);
    let parts = run_frame(dir.path(), &rules);
    assert!(one.equals_missing(&parts), "{one}\n{parts}");
}

/// Under the default rules alone every diagnoses feature has a window, so each part's claims
/// are cut by it after the part's join: B's dementia claim at R−365 is in its part and out of
/// the window (dropped, not joined again elsewhere), A's at R−364 is in another part (joined
/// afterwards, and counted).
#[test]
fn under_the_default_rules_a_claim_out_of_the_window_is_dropped_and_one_elsewhere_counted() {
    let rules = default_rules();
    let csv = tempfile::tempdir().unwrap();
    let (b, [a1, _]) = extract();
    b.write(csv.path());
    let one = run_frame(csv.path(), &rules);
    let dir = in_parts(|claim, own| if claim == a1 { 1 } else { own });
    let feats: Vec<String> = balgul::rules::load(&rules, r())
        .unwrap()
        .features
        .iter()
        .filter(|f| f.table == "diagnoses")
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(feats, ["conditions"]);
    // The default rules' code filter keeps the coded diagnoses alone: 11 of the 13.
    assert_eq!(layout(dir.path(), &rules), Some((3, 10, 1)));
    let parts = run_frame(dir.path(), &rules);
    assert!(one.equals_missing(&parts), "{one}\n{parts}");
    assert_eq!(person_int(&parts, "A", "conditions"), Some(3));
    assert_eq!(person_int(&parts, "B", "conditions"), Some(0));
    assert_eq!(person_int(&parts, "E", "conditions"), Some(1));
}
