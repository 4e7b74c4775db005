//! Writing a run's outputs: `candidates.csv`, one Korean-headed file per municipality in the
//! chosen encoding, and `manifest.json`, all into a temporary directory that replaces the
//! output directory in one rename at the end. A run that fails leaves no partial output and
//! the previous output untouched.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::ir::RuleSet;
use crate::plan;
use crate::screen::Screening;

/// Text encoding of the municipal files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8 with a byte-order mark: Excel opens it as Korean text.
    #[value(name = "utf8-bom")]
    Utf8Bom,
    Utf8,
    /// CP949 (UHC), for older Excel.
    Cp949,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error(
        "`{}` exists: a run writes a new output directory. Pass --force to replace it (the old one is kept until the new one is complete)",
        path.display()
    )]
    Exists { path: PathBuf },
    #[error("`{code}` is not a 5-digit 시군구 code: no file is written for it")]
    BadCode { code: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A cell that Excel would read as a formula gets a leading apostrophe.
pub fn safe_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// Is `code` a valid 시군구 code, and so safe as a file name?
pub fn valid_sgg(code: &str) -> bool {
    code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit())
}

fn cell(c: &Column, i: usize) -> String {
    match c.get(i) {
        Ok(AnyValue::Null) | Err(_) => String::new(),
        Ok(AnyValue::String(s)) => s.to_string(),
        Ok(AnyValue::StringOwned(s)) => s.to_string(),
        Ok(v) => v.to_string(),
    }
}

/// The listed candidates as rows of text, in the frame's order.
fn rows(df: &DataFrame, cols: &[&str]) -> Result<Vec<Vec<String>>, PolarsError> {
    let columns: Vec<&Column> = cols
        .iter()
        .map(|c| df.column(c))
        .collect::<PolarsResult<_>>()?;
    Ok((0..df.height())
        .map(|i| {
            columns
                .iter()
                .map(|c| safe_cell(&cell(c, i)).into_owned())
                .collect()
        })
        .collect())
}

fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header).expect("writing to memory");
    for r in rows {
        w.write_record(r).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

fn encode(bytes: Vec<u8>, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Utf8 => bytes,
        Encoding::Utf8Bom => {
            let mut v = vec![0xEF, 0xBB, 0xBF];
            v.extend(bytes);
            v
        }
        Encoding::Cp949 => {
            let text = String::from_utf8_lossy(&bytes);
            let (out, _, _) = encoding_rs::EUC_KR.encode(&text);
            out.into_owned()
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = std::fs::File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Writes the outputs of `s` into `out`, atomically.
pub fn write(
    out: &Path,
    force: bool,
    rs: &RuleSet,
    s: &Screening,
    encoding: Encoding,
    manifest: &serde_json::Value,
) -> Result<(), ExportError> {
    write_with(out, force, rs, s, encoding, manifest, &[])
}

/// [`write`], and the rows set aside by validation as `quarantine/<table>.csv` (UTF-8, the
/// contract's columns and `reason`), inside the same atomic output directory.
pub fn write_with(
    out: &Path,
    force: bool,
    rs: &RuleSet,
    s: &Screening,
    encoding: Encoding,
    manifest: &serde_json::Value,
    quarantine: &[(&str, &DataFrame)],
) -> Result<(), ExportError> {
    if out.exists() && !force {
        return Err(ExportError::Exists {
            path: out.to_path_buf(),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    remove_leftovers(&parent, &name);
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    let result = write_into(&tmp, rs, s, encoding, manifest)
        .and_then(|()| write_quarantine(&tmp, quarantine));
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        // Name the output asked for (the file that failed was in a scratch directory, now
        // removed) and say what became of the previous output.
        return Err(match e {
            ExportError::Io { path, message } => ExportError::Io {
                message: format!(
                    "{message} (writing {}); nothing was written, {}",
                    path.strip_prefix(&tmp).unwrap_or(&path).display(),
                    if out.exists() {
                        "the previous output is unchanged"
                    } else {
                        "no partial output is left"
                    }
                ),
                path: out.to_path_buf(),
            },
            other => other,
        });
    }
    if out.exists() {
        if exchange(&tmp, out) {
            // `tmp` now holds the previous output.
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        } else {
            // Without an atomic exchange there is an instant, between the two renames, when
            // `out` is absent; the previous output is then complete under `.NAME.old-PID`.
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(out, &old).map_err(|e| io(out, e))?;
            std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
    } else {
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
    }
    Ok(())
}

/// Swaps two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`): a process killed at any
/// instant leaves either the old or the new output under the output's name, never neither.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(a), Ok(b)) = (
        std::ffi::CString::new(a.as_os_str().as_bytes()),
        std::ffi::CString::new(b.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them and returns.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Removes what killed runs into the same output left beside it: `.NAME.tmp-PID`
/// directories whose process is gone. They are never read; this only reclaims the space.
fn remove_leftovers(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let Some(pid) = file.strip_prefix(&prefix) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists();
        if !alive && pid.parse::<u32>().is_ok() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn write_quarantine(dir: &Path, quarantine: &[(&str, &DataFrame)]) -> Result<(), ExportError> {
    if quarantine.is_empty() {
        return Ok(());
    }
    let qdir = dir.join("quarantine");
    std::fs::create_dir_all(&qdir).map_err(|e| io(&qdir, e))?;
    for (table, df) in quarantine {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let header: Vec<&str> = names.iter().map(String::as_str).collect();
        let path = qdir.join(format!("{table}.csv"));
        let body = rows(df, &header).map_err(|e| io(&path, e))?;
        write_file(&path, &csv_bytes(&header, &body))?;
    }
    Ok(())
}

fn write_into(
    dir: &Path,
    rs: &RuleSet,
    s: &Screening,
    encoding: Encoding,
    manifest: &serde_json::Value,
) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir.join("by-municipality")).map_err(|e| io(dir, e))?;
    let df = &s.listed;
    let mut cols = vec![
        "sgg_code",
        "rank",
        "person_id",
        plan::SCORE,
        plan::COHORTS,
        "age",
        "sex",
        "insurance_type",
        plan::REASONS,
    ];
    let term_cols: Vec<String> = rs.score.iter().map(|t| plan::score_col(&t.id)).collect();
    cols.extend(term_cols.iter().map(String::as_str));
    let all = rows(df, &cols).map_err(|e| io(dir, e))?;
    let header: Vec<String> = cols
        .iter()
        .map(|c| c.replace("score:", "points_"))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write_file(&dir.join("candidates.csv"), &csv_bytes(&header, &all))?;

    // Municipal files: Korean headers, cohort labels instead of ids, only the municipality's own rows.
    let labels: BTreeMap<&str, &str> = rs
        .cohorts
        .iter()
        .map(|c| (c.id.as_str(), c.label.as_str()))
        .collect();
    let k_header = [
        "순위",
        "가명ID",
        "점수",
        "대상군",
        "연령",
        "성별",
        "자격",
        "선정 사유",
    ];
    let mut by: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for r in &all {
        let (sgg, rank, pid, score, cohorts, age, sex, ins, reasons) = (
            &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8],
        );
        let ko_cohorts: Vec<&str> = cohorts
            .split(';')
            .filter(|c| !c.is_empty())
            .map(|c| labels.get(c).copied().unwrap_or(c))
            .collect();
        let sex = match sex.as_str() {
            "M" => "남",
            "F" => "여",
            other => other,
        };
        let ins = match ins.as_str() {
            "NHI" => "건강보험",
            "MA1" => "의료급여 1종",
            "MA2" => "의료급여 2종",
            other => other,
        };
        by.entry(sgg.clone()).or_default().push(vec![
            rank.clone(),
            pid.clone(),
            score.clone(),
            ko_cohorts.join(";"),
            age.clone(),
            sex.to_string(),
            ins.to_string(),
            reasons.clone(),
        ]);
    }
    for (code, rows) in &by {
        if !valid_sgg(code) {
            return Err(ExportError::BadCode { code: code.clone() });
        }
        let bytes = encode(csv_bytes(&k_header, rows), encoding);
        write_file(
            &dir.join("by-municipality").join(format!("{code}.csv")),
            &bytes,
        )?;
    }
    let text = serde_json::to_string_pretty(manifest).map_err(|e| io(dir, e))?;
    write_file(&dir.join("manifest.json"), format!("{text}\n").as_bytes())
}
