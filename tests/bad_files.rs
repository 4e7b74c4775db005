//! Files that cannot be read: each a clear error with the path (and, for CSV, the line) and
//! the fix, exit code 3 — never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::build::*;

fn run_with(data: &Path, extra: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
        .args(["run", "--dry-run", "--data"])
        .arg(data)
        .arg("--rules")
        .arg(default_rules())
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn run(data: &Path) -> Output {
    run_with(data, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A copy of the committed sample extract (Parquet).
fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    (tmp, dir)
}

/// A tiny CSV extract whose persons.csv is replaced by `persons` (bytes).
fn csv_extract(persons: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = Build::new();
    b.person("A", 70, "11110").pending("A");
    b.claim("A", "01", "OUT", &d(-3), None);
    b.write(tmp.path());
    std::fs::write(tmp.path().join("persons.csv"), persons).unwrap();
    let p = tmp.path().to_path_buf();
    (tmp, p)
}

const HEADER: &str =
    "person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date\n";

#[test]
fn a_truncated_parquet_file_is_named_with_exit_3() {
    let (_t, dir) = sample_copy();
    let f = dir.join("claims.parquet");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{}: parquet:", f.display())),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn a_file_that_is_not_parquet_is_named_with_exit_3() {
    let (_t, dir) = sample_copy();
    let f = dir.join("diagnoses.parquet");
    std::fs::write(&f, b"claim_id,person_id\nC1,P1\n").unwrap();
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{}: parquet:", f.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_csv_quote_never_closed_is_named_by_line() {
    let body = format!(
        "{HEADER}A,1956,F,11110,NHI,5,false,\n\"B,1950,F,11110,NHI,5,false,\nC,1950,F,11110,NHI,5,false,\n"
    );
    let (_t, dir) = csv_extract(body.as_bytes());
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "{}: line 3: 1 field(s) where the header has 8; a quote `\"` opened on this line is never closed",
            dir.join("persons.csv").display()
        )),
        "{e}"
    );
    assert!(e.contains("fix: close the quote, or remove it"), "{e}");
}

#[test]
fn cp949_bytes_in_a_utf8_csv_are_named_by_line_and_shown_as_cp949() {
    let (cp949, _, _) = encoding_rs::EUC_KR.encode("홍길동,1950,F,11110,NHI,5,false,\n");
    let mut body = format!("{HEADER}A,1956,F,11110,NHI,5,false,\n").into_bytes();
    body.extend_from_slice(&cp949);
    let (_t, dir) = csv_extract(&body);
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("line 3: a field is not UTF-8 text (it reads as `홍길동` in CP949"),
        "{e}"
    );
    assert!(e.contains("pass --input-encoding cp949"), "{e}");
    assert!(e.contains("iconv -f CP949 -t UTF-8 persons.csv"), "{e}");
}

fn run_cp949(data: &Path) -> Output {
    run_with(data, &["--input-encoding", "cp949"])
}

/// The error of a dry run over a CSV extract whose persons.csv is `persons`, read as CP949
/// (asserting exit 3), and the extract's directory.
fn refused_as_cp949(persons: &[u8]) -> (tempfile::TempDir, PathBuf, String) {
    let (t, dir) = csv_extract(persons);
    let o = run_cp949(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    (t, dir, stderr(&o))
}

fn cp949(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn a_cp949_csv_is_read_with_input_encoding_cp949() {
    let body = cp949(&format!(
        "{HEADER}A,1956,F,11110,NHI,5,false,\n홍길동,1950,F,11110,NHI,5,false,\n"
    ));
    let (_t, dir) = csv_extract(&body);
    let o = run_cp949(&dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ex =
        balgul::extract::Extract::open_encoded(&dir, None, balgul::extract::InputEncoding::Cp949)
            .unwrap();
    // The manifest says how the file was read.
    let inputs = balgul::manifest::inputs(&ex).unwrap();
    let first = &inputs.as_array().unwrap()[0];
    assert_eq!(first["table"], "persons");
    assert_eq!(first["encoding"], "cp949");
    assert_eq!(first["rows"], 2);
    let persons = ex.lazy("persons").collect().unwrap();
    let ids: Vec<Option<&str>> = persons
        .column("person_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, [Some("A"), Some("홍길동")]);
    // The input's hash is the original file's, not its UTF-8 copy's.
    assert_eq!(
        ex.table("persons").source.files(),
        [dir.join("persons.csv")]
    );
}

#[test]
fn bytes_that_are_not_cp949_are_named_by_line() {
    let mut body = cp949(&format!("{HEADER}A,1956,F,11110,NHI,5,false,\n"));
    body.extend_from_slice(b"B\xff,1950,F,11110,NHI,5,false,\n");
    let (_t, dir, e) = refused_as_cp949(&body);
    assert!(
        e.contains(&format!(
            "{}: line 3: bytes that are not CP949 (FF)",
            dir.join("persons.csv").display()
        )),
        "{e}"
    );
}

#[test]
fn a_utf8_csv_read_as_cp949_is_refused() {
    let body = format!("{HEADER}A,1956,F,11110,NHI,5,false,\n홍길동,1950,F,11110,NHI,5,false,\n");
    let (_t, _, e) = refused_as_cp949(body.as_bytes());
    assert!(
        e.contains("the file is UTF-8 text already, not CP949"),
        "{e}"
    );
    assert!(e.contains("fix: drop --input-encoding cp949"), "{e}");
}

#[test]
fn a_broken_quote_in_a_cp949_csv_is_named_by_the_original_line() {
    let body = cp949(&format!(
        "{HEADER}홍길동,1956,F,11110,NHI,5,false,\n\"B,1950,F,11110,NHI,5,false,\n"
    ));
    let (_t, dir, e) = refused_as_cp949(&body);
    assert!(
        e.contains(&format!(
            "{}: line 3: 1 field(s) where the header has 8; a quote",
            dir.join("persons.csv").display()
        )),
        "{e}"
    );
}

#[test]
fn a_csv_line_with_too_many_fields_is_named_by_line() {
    let body = format!("{HEADER}A,1956,F,11110,NHI,5,false,,extra\n");
    let (_t, dir) = csv_extract(body.as_bytes());
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line 2: 9 field(s) where the header has 8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_full_disk_while_writing_a_report_is_named_with_the_path_and_no_panic() {
    // /dev/full answers every write with ENOSPC. (A full disk under `run --out` is tried by
    // scripts/full-disk.sh, which needs root to mount a small tmpfs.)
    if !Path::new("/dev/full").exists() {
        panic!("this test needs Linux's /dev/full");
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
        .args(["diff", "--self-check", "--data"])
        .arg(&sample)
        .arg("--baseline")
        .arg(default_rules())
        .args(["--people", "/dev/full"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/full"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_cp949_character_across_a_read_boundary_is_named_whole_by_line() {
    // The lead byte B0 is the last byte of the first 1 MiB read; the comma after it cannot
    // end a character.
    let mut body = cp949(HEADER);
    let mut lines = 1;
    let mut i = 0;
    while body.len() < (1 << 20) - 100 {
        body.extend_from_slice(format!("A{i},1956,F,11110,NHI,5,false,\n").as_bytes());
        lines += 1;
        i += 1;
    }
    let pad = (1 << 20) - 1 - body.len() - 1;
    body.push(b'Z');
    body.extend(std::iter::repeat_n(b'x', pad));
    assert_eq!(body.len(), (1 << 20) - 1);
    body.extend_from_slice(b"\xb0,1950,F,11110,NHI,5,false,\n");
    let (_t, _, e) = refused_as_cp949(&body);
    assert!(
        e.contains(&format!(
            "line {}: bytes that are not CP949 (B0)\n",
            lines + 1
        )),
        "{e}"
    );
}

#[test]
fn a_cp949_file_ending_inside_a_character_is_named() {
    let mut body = cp949(&format!("{HEADER}홍길동,1956,F,11110,NHI,5,false,\n"));
    body.push(0xB0);
    let (_t, _, e) = refused_as_cp949(&body);
    assert!(
        e.contains("line 3: bytes that are not CP949 (B0), at the end of the file"),
        "{e}"
    );
}

#[test]
fn a_cp949_file_that_happens_to_be_valid_utf8_is_read_as_cp949() {
    // 징 is C2 A1 in CP949, which is also UTF-8 for "¡": without three-byte sequences the
    // file is taken for what the flag says.
    let body = cp949(&format!(
        "{HEADER}A,1956,F,11110,NHI,5,false,\n징,1950,F,11110,NHI,5,false,\n"
    ));
    assert!(std::str::from_utf8(&body).is_ok());
    let (_t, dir) = csv_extract(&body);
    let o = run_cp949(&dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
