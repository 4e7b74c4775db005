//! Exports that cannot be turned against their readers: file names only from valid 시군구
//! codes, cells Excel would run as formulas neutralised.

mod common;

use balgul::export::{self, Encoding};
use balgul::extract::Extract;
use common::build::*;

fn screen(b: &Build, dir: &std::path::Path) -> (balgul::ir::RuleSet, balgul::screen::Screening) {
    b.write(dir);
    let ex = Extract::open(dir).unwrap();
    let rs = balgul::rules::load(&default_rules(), r()).unwrap();
    let s = balgul::screen::run(&ex, &rs).unwrap();
    (rs, s)
}

#[test]
fn a_sgg_code_like_a_path_never_leaves_the_output_directory() {
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("OK", 70, "11110").pending("OK");
    b.person("EVIL", 70, "../../x").pending("EVIL");
    let (rs, s) = screen(&b, data.path());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("a/b/out");
    let err =
        export::write(&out, false, &rs, &s, Encoding::Utf8, &serde_json::json!({})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`../../x` is not a 5-digit 시군구 code: no file is written for it"
    );
    // Nothing was written anywhere: no output, no temporary directory, nothing above it.
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(root.path().join("a/b")).unwrap().count(),
        0
    );
    assert!(!root.path().join("x.csv").exists() && !root.path().join("a/x.csv").exists());
}

#[test]
fn cells_that_excel_would_read_as_formulas_are_neutralised() {
    for (raw, safe) in [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("P0001", "P0001"),
        ("요양병원 퇴원", "요양병원 퇴원"),
        ("", ""),
    ] {
        assert_eq!(export::safe_cell(raw), safe);
    }
    // Through a whole run: a person_id that starts with `=` arrives quoted in every file.
    let data = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("=cmd", 70, "11110").pending("=cmd");
    let (rs, s) = screen(&b, data.path());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("o");
    export::write(&out, false, &rs, &s, Encoding::Utf8, &serde_json::json!({})).unwrap();
    let cand = std::fs::read_to_string(out.join("candidates.csv")).unwrap();
    assert!(cand.contains("\n11110,1,'=cmd,"), "{cand}");
    let muni = std::fs::read_to_string(out.join("by-municipality/11110.csv")).unwrap();
    assert!(muni.contains("\r\n1,'=cmd,"), "{muni}");
}
