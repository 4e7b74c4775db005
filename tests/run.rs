//! `balgul run` end to end on the committed sample extract: the files it writes, their
//! encodings, determinism across thread counts, refusal to overwrite, `--force`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(out: &Path, extra: &[&str], threads: Option<&str>) -> std::process::Output {
    run_on(&root().join("fixtures/sample"), out, extra, threads)
}

fn run_on(data: &Path, out: &Path, extra: &[&str], threads: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_balgul"));
    c.arg("run")
        .arg("--data")
        .arg(data)
        .arg("--rules")
        .arg(root().join("rules/default.toml"))
        .arg("--out")
        .arg(out)
        .args(extra);
    if let Some(t) = threads {
        c.env("POLARS_MAX_THREADS", t).env("RAYON_NUM_THREADS", t);
    }
    c.output().unwrap()
}

fn read_dir_sorted(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn writes_candidates_municipal_files_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2026-10");
    let o = run(&out, &[], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(stdout.contains("/candidates.csv"), "{stdout}");

    let cand = std::fs::read_to_string(out.join("candidates.csv")).unwrap();
    let mut lines = cand.lines();
    assert!(lines.next().unwrap().starts_with(
        "sgg_code,rank,person_id,score,cohorts,age,sex,insurance_type,reasons,points_"
    ));
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(cand.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert!(!rows.is_empty());

    // One file per municipality with a list; each holds only its own residents, ranked 1..n.
    let files = read_dir_sorted(&out.join("by-municipality"));
    let mut total = 0;
    for f in &files {
        let code = f.file_stem().unwrap().to_string_lossy().to_string();
        assert!(code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()));
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(
            &bytes[..3],
            &[0xEF, 0xBB, 0xBF],
            "UTF-8 with BOM by default"
        );
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(text.starts_with("순위,가명ID,점수,대상군,연령,성별,자격,선정 사유\r\n"));
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == code).collect();
        let n = text.lines().count() - 1;
        assert_eq!(n, mine.len(), "{code}");
        for (i, (line, r)) in text.lines().skip(1).zip(mine).enumerate() {
            assert!(
                line.starts_with(&format!("{},{},", i + 1, r[2])),
                "{code}: {line}"
            );
        }
        total += n;
    }
    assert_eq!(total, rows.len());

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["rule_set"]["name"], "policy-v1");
    assert_eq!(m["as_of"], "2026-10-31");
    assert_eq!(m["rule_set"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        m["totals"]["persons_listed"].as_u64().unwrap() as usize,
        rows.len()
    );
    let persons = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "persons")
        .unwrap();
    assert_eq!(persons["rows"], 3000);
    assert_eq!(persons["files"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["attrition_persons"][0]["persons"], 3000);
    // The run's peak memory after each stage, where the system tells it (Linux): the stages in
    // order, the peak never falling, more than a mebibyte and less than a tebibyte.
    if cfg!(target_os = "linux") {
        let peaks = m["peak_rss_bytes"].as_array().unwrap();
        let stages: Vec<&str> = peaks.iter().map(|p| p["stage"].as_str().unwrap()).collect();
        assert_eq!(
            stages,
            [
                "open_and_rules",
                "validate_rows_and_hash_inputs",
                "features_and_ranking"
            ]
        );
        let bytes: Vec<u64> = peaks.iter().map(|p| p["bytes"].as_u64().unwrap()).collect();
        assert!(bytes.is_sorted(), "{bytes:?}");
        assert!(bytes[0] > 1 << 20 && bytes[2] < 1 << 40, "{bytes:?}");
    }
    // No temporary directory is left beside the output.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["2026-10"]);
}

#[test]
fn outputs_are_byte_identical_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(run(&a, &[], Some("1")).status.success());
    assert!(run(&b, &[], Some("2")).status.success());
    assert_eq!(
        std::fs::read(a.join("candidates.csv")).unwrap(),
        std::fs::read(b.join("candidates.csv")).unwrap()
    );
    let fa = read_dir_sorted(&a.join("by-municipality"));
    let fb = read_dir_sorted(&b.join("by-municipality"));
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
}

#[test]
fn cp949_and_plain_utf8_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(run(&a, &["--encoding", "cp949"], None).status.success());
    assert!(run(&b, &["--encoding", "utf8"], None).status.success());
    let f = read_dir_sorted(&a.join("by-municipality"))[0].clone();
    let name = f.file_name().unwrap();
    let cp = std::fs::read(&f).unwrap();
    let (decoded, _, bad) = encoding_rs::EUC_KR.decode(&cp);
    assert!(!bad);
    let utf8 = std::fs::read_to_string(b.join("by-municipality").join(name)).unwrap();
    assert_eq!(decoded, utf8);
    assert!(utf8.starts_with("순위,"));
}

#[test]
fn an_existing_output_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "previous").unwrap();
    let o = run(&out, &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Pass --force to replace it"));
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "previous"
    );
    let o = run(&out, &["--force"], None);
    assert!(o.status.success());
    assert!(!out.join("keep.txt").exists());
    assert!(out.join("candidates.csv").exists());
}

#[test]
fn a_failed_run_leaves_the_previous_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "previous").unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[ruleset]\nname = 1\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_balgul"))
        .arg("run")
        .arg("--data")
        .arg(root().join("fixtures/sample"))
        .arg("--rules")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .arg("--force")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "previous"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn dry_run_prints_the_funnel_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_balgul"))
        .current_dir(dir.path())
        .arg("run")
        .arg("--data")
        .arg(root().join("fixtures/sample"))
        .arg("--rules")
        .arg(root().join("rules/default.toml"))
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("attrition (persons remaining after each step):\n  persons                  3000  추출 인원\n"), "{out}");
    assert!(out.contains("municipalities (persons; top 20 of "), "{out}");
    assert!(
        out.contains("\n  total           174           1         173        173\n"),
        "{out}"
    );
    assert!(out.ends_with("dry run: nothing written\n"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn diff_self_check_passes_on_the_sample() {
    let o = Command::new(env!("CARGO_BIN_EXE_balgul"))
        .arg("diff")
        .arg("--data")
        .arg(root().join("fixtures/sample"))
        .arg("--baseline")
        .arg(root().join("rules/default.toml"))
        .arg("--self-check")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("\n  entrants 0, leavers 0, unchanged 173 (of whom 0 moved rank)\n"),
        "{out}"
    );
    assert!(
        out.ends_with("self-check passed: the rule set diffed against itself changes nothing\n"),
        "{out}"
    );
}

/// Regression: `balgul run` stopped with "cannot create series from UInt8" (exit 3) on a
/// Parquet extract whose small integer columns were written unsigned — types the loader
/// accepts as compatible (and `balgul inspect` passed), but Polars had been built without
/// them. Found by the validating DuckDB peer's cross-check (scripts/peers), 2026-12-04.
#[test]
fn unsigned_integer_columns_give_the_same_lists_as_signed_ones() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("extract");
    std::fs::create_dir(&data).unwrap();
    for e in std::fs::read_dir(root().join("fixtures/sample")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, data.join(p.file_name().unwrap())).unwrap();
    }
    let unsigned: [(&str, &[(&str, DataType)]); 5] = [
        (
            "persons",
            &[
                ("birth_year", DataType::UInt16),
                ("income_decile", DataType::UInt8),
            ],
        ),
        ("claims", &[("cost_krw", DataType::UInt32)]),
        ("diagnoses", &[("dx_order", DataType::UInt8)]),
        ("prescriptions", &[("days_supply", DataType::UInt16)]),
        ("ltc_services", &[("days", DataType::UInt8)]),
    ];
    for (table, casts) in unsigned {
        let path = data.join(format!("{table}.parquet"));
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        let df = df
            .lazy()
            .with_columns(
                casts
                    .iter()
                    .map(|(c, t)| col(*c).strict_cast(t.clone()))
                    .collect::<Vec<_>>(),
            )
            .collect()
            .unwrap();
        for (c, t) in casts {
            assert_eq!(df.column(c).unwrap().dtype(), t, "{table}.{c}");
        }
        common::write_parquet(&path, &df);
    }
    let signed = dir.path().join("signed");
    let o = run(&signed, &[], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("unsigned");
    let o = run_on(&data, &out, &[], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("candidates.csv")).unwrap(),
        std::fs::read(signed.join("candidates.csv")).unwrap()
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["rows_set_aside"], serde_json::json!([]));
}
