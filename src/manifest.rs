//! `manifest.json`: what a run read, with which rules, and what it found — the record that
//! makes a run reproducible and auditable. Every count says what it counts (persons, rows).

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde_json::{Value as J, json};
use sha2::{Digest, Sha256};

use crate::extract::{Extract, ExtractError, TableSource, count_rows};
use crate::ir::{RuleSet, Value};
use crate::screen::Screening;

/// SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn param_json(v: &Value) -> J {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Date(d) => json!(d.to_string()),
        Value::StrList(l) => json!(l),
        Value::Null => J::Null,
    }
}

/// The inputs: per table, its files with their SHA-256 and size, and its row count (and
/// `encoding` for a CSV file read as CP949).
pub fn inputs(ex: &Extract) -> Result<J, ExtractError> {
    let mut tables = Vec::new();
    for t in ex.tables() {
        let files = t.source.files();
        let hashed: Vec<Result<J, ExtractError>> = files
            .par_iter()
            .map(|p| {
                let sha = sha256_file(p).map_err(|e| ExtractError::Io {
                    path: p.clone(),
                    source: e,
                })?;
                let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                Ok(json!({ "path": p.display().to_string(), "sha256": sha, "bytes": bytes }))
            })
            .collect();
        let files: Vec<J> = hashed.into_iter().collect::<Result<_, _>>()?;
        let rows = count_rows(t)?;
        let mut table = json!({ "table": t.spec.name, "source": t.source.display_path(), "rows": rows, "files": files });
        if let TableSource::CsvTranscoded { .. } = t.source {
            // The files hashed are the originals; their text was read as CP949.
            table["encoding"] = json!("cp949");
        }
        tables.push(table);
    }
    Ok(J::Array(tables))
}

/// Builds the manifest of a run.
pub fn build(
    rs: &RuleSet,
    rules_path: &Path,
    inputs: J,
    s: &Screening,
    timings: &[(&str, f64)],
) -> J {
    let params: serde_json::Map<String, J> = rs
        .params
        .iter()
        .map(|(n, v, r)| (n.clone(), json!({ "value": param_json(v), "ref": r })))
        .collect();
    let municipalities: serde_json::Map<String, J> = s
        .municipalities
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(J::Null)))
        .collect();
    let listed: u64 = s.municipalities.values().map(|m| m.persons_listed).sum();
    json!({
        "balgul_version": env!("CARGO_PKG_VERSION"),
        "as_of": rs.as_of.to_string(),
        "rule_set": {
            "name": rs.name,
            "version": rs.version,
            "title": rs.title,
            "file": rules_path.display().to_string(),
            "sha256": rs.sha256,
            "params_at_as_of": params,
        },
        "inputs": inputs,
        "totals": {
            "persons_listed": listed,
            "persons_past_cap": s.persons_past_cap,
            "municipalities_with_a_list": s.municipalities.values().filter(|m| m.persons_listed > 0).count(),
            "cap_per_municipality": rs.cap,
        },
        "attrition_persons": s.attrition,
        "cohorts_persons": s.cohorts,
        "municipalities_persons": municipalities,
        "wall_seconds": timings.iter().map(|(k, v)| json!({ "stage": k, "seconds": (v * 1000.0).round() / 1000.0 })).collect::<Vec<_>>(),
    })
}

/// The process's peak resident memory so far (bytes), for the manifest's `peak_rss_bytes`
/// after each stage: on Linux `VmHWM` of `/proc/self/status`; `None` elsewhere. The peak is
/// never reset (a reset would also hide the true peak from `time` and the benchmarks, which
/// read the same counter), so a stage shows its own peak only where it raised the run's.
pub fn peak_rss_so_far() -> Option<u64> {
    vm_hwm_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `VmHWM` (the peak resident set, given in kB) of a `/proc/<pid>/status` text, in bytes.
fn vm_hwm_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let kb: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kb * 1024)
}

/// The peaks of [`peak_rss_so_far`] after each stage, for the manifest: `[{stage, bytes}]`.
pub fn peaks_json(peaks: &[(&str, u64)]) -> J {
    peaks
        .iter()
        .map(|(stage, bytes)| json!({ "stage": stage, "bytes": bytes }))
        .collect()
}

/// The rows set aside by validation, for the manifest: per table, rows in the table, rows set
/// aside, and rows breaking each rule.
pub fn set_aside(v: &[crate::validate::SetAside]) -> J {
    J::Array(
        v.iter()
            .map(|s| {
                json!({
                    "table": s.table,
                    "rows": s.rows_total,
                    "rows_set_aside": s.rows_set_aside,
                    "file": format!("quarantine/{}.csv", s.table),
                    "rules_rows": s.rules.iter().map(|r| json!({ "rule": r.rule, "description": r.description, "rows": r.rows })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::vm_hwm_bytes;

    #[test]
    fn the_peak_is_read_from_vm_hwm_in_kilobytes() {
        let status = "Name:\tbalgul\nVmPeak:\t 9000 kB\nVmHWM:\t 1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_bytes(status), Some(1234 * 1024));
        assert_eq!(vm_hwm_bytes("VmRSS:\t 1000 kB\n"), None);
        assert_eq!(vm_hwm_bytes("VmHWM:\t 12 MB\n"), None);
        assert_eq!(vm_hwm_bytes("VmHWM:\t kB\n"), None);
    }
}
