//! Data-quality gates of `balgul run`: a table or cohort that empties against the previous
//! run's manifest stops the run (exit 3, nothing written); large moves are warned about.

mod common;

use std::path::Path;
use std::process::Output;

use common::build::*;
use common::text;

fn run(data: &Path, out: &Path, extra: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
        .args(["run", "--data"])
        .arg(data)
        .arg("--rules")
        .arg(default_rules())
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `pending` people mid-way through an LTC application in 11110, each with one visit.
fn extract(dir: &Path, pending: &[&str], others: &[&str]) {
    let mut b = Build::new();
    for p in pending {
        b.person(p, 70, "11110").pending(p);
        b.claim(p, "01", "OUT", &d(-3), None);
    }
    for p in others {
        b.person(p, 70, "11110");
        b.claim(p, "01", "OUT", &d(-3), None);
    }
    b.write(dir);
}

#[test]
fn a_table_and_cohort_that_empty_against_the_previous_run_stop_it() {
    let root = tempfile::tempdir().unwrap();
    let (m1, m2) = (root.path().join("m1"), root.path().join("m2"));
    std::fs::create_dir_all(&m1).unwrap();
    std::fs::create_dir_all(&m2).unwrap();
    extract(&m1, &["A"], &["B"]);
    // This month nobody has an LTC application: the table came out empty.
    extract(&m2, &[], &["A", "B"]);
    let out1 = root.path().join("out1");
    let res = run(&m1, &out1, &[]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    let out2 = root.path().join("out2");
    let prev = out1.to_str().unwrap();
    let res = run(&m2, &out2, &["--previous", prev]);
    assert_eq!(res.status.code(), Some(3), "{}", text(&res));
    let t = text(&res);
    let manifest = out1.join("manifest.json");
    assert!(
        t.contains(&format!(
            "table ltc_assessments is empty, but the previous run ({}) had 1 rows",
            manifest.display()
        )),
        "{t}"
    );
    assert!(
        t.contains("cohort LTC_PENDING is empty (0 persons), but the previous run"),
        "{t}"
    );
    assert!(
        !out2.exists(),
        "nothing is written when a gate stops the run"
    );

    // The same month without --previous has nothing to compare with: it runs.
    let res = run(&m2, &out2, &[]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
}

#[test]
fn a_municipality_whose_list_moves_past_the_share_is_warned_about_and_recorded() {
    let root = tempfile::tempdir().unwrap();
    let (m1, m2) = (root.path().join("m1"), root.path().join("m2"));
    std::fs::create_dir_all(&m1).unwrap();
    std::fs::create_dir_all(&m2).unwrap();
    extract(&m1, &["A", "B", "C", "D", "E"], &[]);
    extract(&m2, &["A", "B", "C", "D", "E", "F"], &[]);
    let out1 = root.path().join("out1");
    assert_eq!(run(&m1, &out1, &[]).status.code(), Some(0));
    let prev = out1.to_str().unwrap().to_string();

    // 5 → 6 listed is +20.0%: not past the default 20%.
    let out2 = root.path().join("out2");
    let res = run(&m2, &out2, &["--previous", &prev]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    assert!(!text(&res).contains("municipality 11110"), "{}", text(&res));

    // Past 10%, it is warned about, and the warning is in the manifest.
    let out3 = root.path().join("out3");
    let res = run(&m2, &out3, &["--previous", &prev, "--max-change", "10%"]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    let w = "municipality 11110: 6 persons listed, +20.0% against the previous run's 5";
    assert!(
        text(&res).contains(&format!("warning: {w}")),
        "{}",
        text(&res)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out3.join("manifest.json")).unwrap())
            .unwrap();
    let warnings = m["gates"]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|x| x == w), "{warnings:?}");
    assert_eq!(m["gates"]["stops"], serde_json::json!([]));
}

#[test]
fn an_empty_claims_table_stops_the_run_even_without_a_previous_one() {
    let root = tempfile::tempdir().unwrap();
    let m = root.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.write(&m);
    let out = root.path().join("out");
    let res = run(&m, &out, &[]);
    assert_eq!(res.status.code(), Some(3), "{}", text(&res));
    assert!(
        text(&res).contains("table claims is empty: a screening needs its rows"),
        "{}",
        text(&res)
    );
    assert!(!out.exists());
}

#[test]
fn a_previous_directory_without_a_manifest_is_bad_usage() {
    let root = tempfile::tempdir().unwrap();
    let m = root.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    extract(&m, &["A"], &[]);
    let res = run(
        &m,
        &root.path().join("out"),
        &["--previous", "/nonexistent-dir"],
    );
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("--previous /nonexistent-dir: cannot read"));
}
