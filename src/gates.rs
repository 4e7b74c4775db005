//! Data-quality gates before anything is exported: a hard stop when a table or a cohort comes
//! out empty where data was expected (a required table, or one the previous run's manifest
//! had rows for — a mis-mapped `care_type` silently dropping every claim), and a warning when
//! a table's row count or a municipality's list moves by more than a set share against the
//! previous run.
//!
//! The gates compare two manifests (this run's, built before export, and the previous
//! one's), so they see exactly what the manifests record: rows per input table, persons per
//! cohort, persons listed per municipality.

use serde_json::Value as J;

/// What the gates found: `stops` fail the run (exit 3), `warnings` are printed and recorded.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gates {
    pub stops: Vec<String>,
    pub warnings: Vec<String>,
}

fn table_rows(m: &J) -> Vec<(String, u64)> {
    m["inputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t["table"].as_str()?.to_string(), t["rows"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn cohorts(m: &J) -> Vec<(String, u64)> {
    m["cohorts_persons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c["id"].as_str()?.to_string(),
                        c["persons_eligible"].as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn listed(m: &J) -> Vec<(String, u64)> {
    m["municipalities_persons"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v["persons_listed"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn moved(before: u64, after: u64, max_change: f64) -> Option<f64> {
    if before == 0 {
        return None;
    }
    let change = (after as f64 - before as f64) / before as f64;
    (change.abs() > max_change).then_some(change)
}

/// Checks `current` (this run's manifest): every table in `must_have_rows` has rows; and,
/// when given, against `previous` (the manifest of the previous run, named `previous_name` in
/// messages). `max_change` is the share beyond which a move is warned about.
pub fn check(
    current: &J,
    must_have_rows: &[&str],
    previous: Option<(&J, &str)>,
    max_change: f64,
) -> Gates {
    let mut g = Gates::default();
    let now = table_rows(current);
    for (t, n) in &now {
        if *n == 0 && must_have_rows.contains(&t.as_str()) {
            g.stops.push(format!(
                "table {t} is empty: a screening needs its rows (is the extract complete?)"
            ));
        }
    }
    let Some((prev, name)) = previous else {
        return g;
    };
    let find = |v: &[(String, u64)], k: &str| v.iter().find(|(x, _)| x == k).map(|(_, n)| *n);
    for (t, before) in table_rows(prev) {
        let after = find(&now, &t).unwrap_or(0);
        if before > 0 && after == 0 {
            if !must_have_rows.contains(&t.as_str()) {
                g.stops.push(format!(
                    "table {t} is empty, but the previous run ({name}) had {before} rows: a table that empties between two months is a broken extract or mapping"
                ));
            }
        } else if let Some(c) = moved(before, after, max_change) {
            g.warnings.push(format!(
                "table {t}: {after} rows, {:+.1}% against the previous run's {before}",
                c * 100.0
            ));
        }
    }
    let now_c = cohorts(current);
    for (id, before) in cohorts(prev) {
        let after = find(&now_c, &id).unwrap_or(0);
        if before > 0 && after == 0 {
            g.stops.push(format!(
                "cohort {id} is empty (0 persons), but the previous run ({name}) had {before} persons: check the extract (a mis-mapped code empties a cohort) or the rules"
            ));
        }
    }
    let now_l = listed(current);
    for (sgg, before) in listed(prev) {
        let after = find(&now_l, &sgg).unwrap_or(0);
        if let Some(c) = moved(before, after, max_change) {
            g.warnings.push(format!(
                "municipality {sgg}: {after} persons listed, {:+.1}% against the previous run's {before}",
                c * 100.0
            ));
        }
    }
    g
}
