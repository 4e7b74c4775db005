//! `balgul explain`: one person, clause by clause — every feature and derived value, each
//! base criterion, cohort and suppression rule with pass/fail and the values it read, the
//! score term by term, and the rank in the municipality. Under each feature, the rows behind
//! it: the claims, assessments or service months it counted.

use std::fmt::Write;

use polars::prelude::*;

use crate::extract::Extract;
use crate::ir::RuleSet;
use crate::plan;
use crate::rules::check::codeset_column;

fn value(df: &DataFrame, col_name: &str) -> String {
    match df.column(col_name).ok().and_then(|c| c.get(0).ok()) {
        None | Some(AnyValue::Null) => "—".to_string(),
        Some(AnyValue::String(s)) => s.to_string(),
        Some(AnyValue::StringOwned(s)) => s.to_string(),
        Some(v) => v.to_string(),
    }
}

fn pass(df: &DataFrame, col_name: &str) -> bool {
    df.column(col_name)
        .ok()
        .and_then(|c| c.bool().ok().and_then(|b| b.get(0)))
        .unwrap_or(false)
}

/// How many rows behind a feature are printed, the most recent (the rest are counted).
const ROWS_SHOWN: usize = 5;

/// One row of a small frame as `name=value` pairs.
fn row_text(df: &DataFrame, i: usize) -> String {
    df.columns()
        .iter()
        .map(|c| {
            let v = match c.get(i) {
                Ok(AnyValue::Null) | Err(_) => "—".to_string(),
                Ok(AnyValue::String(s)) => s.to_string(),
                Ok(AnyValue::StringOwned(s)) => s.to_string(),
                Ok(v) => v.to_string(),
            };
            format!("{}={v}", c.name())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The values a condition reads, as `name=value` (features, derived values, person columns).
fn inputs(row: &DataFrame, e: &crate::ir::Expr) -> String {
    e.columns()
        .iter()
        .filter(|c| row.column(c).is_ok())
        .map(|c| format!("{c}={}", value(row, c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The explanation of `person_id` under `rs`, or None when the extract has no such person.
pub fn explain(ex: &Extract, rs: &RuleSet, person_id: &str) -> PolarsResult<Option<String>> {
    let row = plan::annotate(
        plan::person_frame(ex, rs)?.filter(col("person_id").eq(lit(person_id))),
        rs,
    )
    .collect()?;
    if row.height() == 0 {
        return Ok(None);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "person {person_id} as of {} under {} {}",
        rs.as_of, rs.name, rs.version
    );
    for c in [
        "sgg_code",
        "age",
        "sex",
        "insurance_type",
        "income_decile",
        "disability",
        "death_date",
    ] {
        let _ = writeln!(o, "  {c:<22} {}", value(&row, c));
    }
    let _ = writeln!(o, "features (from the extract's rows dated up to R):");
    for f in &rs.features {
        let _ = writeln!(
            o,
            "  {:<22} {:<12} {} · {}",
            f.name,
            value(&row, &f.name),
            f.table,
            f.label
        );
        let rows = plan::feature_rows(ex, f, rs.as_of, person_id).collect()?;
        // The most recent rows (a "latest" feature's value comes from the last one).
        let first = rows.height().saturating_sub(ROWS_SHOWN);
        if first > 0 {
            let _ = writeln!(o, "  {:<22}   ← … {first} earlier rows", "");
        }
        for i in first..rows.height() {
            let _ = writeln!(o, "  {:<22}   ← {}", "", row_text(&rows, i));
        }
        if let crate::ir::Agg::CodeSets { sets, .. } = &f.agg {
            let held: Vec<&str> = sets
                .iter()
                .filter(|s| pass(&row, &codeset_column(&f.name, &s.id)))
                .map(|s| s.id.as_str())
                .collect();
            let _ = writeln!(
                o,
                "  {:<22} {}",
                "",
                if held.is_empty() {
                    "(none)".to_string()
                } else {
                    held.join(", ")
                }
            );
        }
    }
    if !rs.derived.is_empty() {
        let _ = writeln!(o, "derived:");
        for (name, _) in &rs.derived {
            let _ = writeln!(o, "  {name:<22} {}", value(&row, name));
        }
    }
    let mark = |b: bool| if b { "pass" } else { "FAIL" };
    let _ = writeln!(o, "base criteria (all must pass):");
    for c in &rs.base {
        let _ = writeln!(
            o,
            "  {:<22} {}  {}  [{}]",
            c.id,
            mark(pass(&row, &plan::base_col(&c.id))),
            c.label,
            inputs(&row, &c.when)
        );
    }
    let _ = writeln!(o, "cohorts (at least one):");
    for c in &rs.cohorts {
        let inside = pass(&row, &plan::cohort_col(&c.id));
        let _ = writeln!(
            o,
            "  {:<22} {}  {}  [{}]",
            c.id,
            if inside { "in " } else { "out" },
            c.label,
            inputs(&row, &c.when)
        );
    }
    let _ = writeln!(o, "suppression (any suppresses):");
    for c in &rs.suppress {
        let hit = pass(&row, &plan::suppress_col(&c.id));
        let _ = writeln!(
            o,
            "  {:<22} {}  {}  [{}]",
            c.id,
            if hit { "SUPPRESSED" } else { "no" },
            c.label,
            inputs(&row, &c.when)
        );
    }
    let _ = writeln!(o, "score:");
    for t in &rs.score {
        let _ = writeln!(
            o,
            "  {:<22} {:>4}  {}",
            t.id,
            value(&row, &plan::score_col(&t.id)),
            t.label
        );
    }
    let _ = writeln!(o, "  {:<22} {:>4}", "total", value(&row, plan::SCORE));
    let verdict = if pass(&row, plan::CANDIDATE) {
        "a candidate"
    } else if pass(&row, plan::ELIGIBLE) {
        "eligible but suppressed"
    } else {
        "not eligible"
    };
    let _ = writeln!(o, "verdict: {verdict}");
    if pass(&row, plan::CANDIDATE) {
        let _ = writeln!(o, "reasons: {}", value(&row, plan::REASONS));
    }
    Ok(Some(o))
}
