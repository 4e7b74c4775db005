//! Every row of an extract checked against the data contract: nulls where none are allowed,
//! values outside the enumerations, malformed codes, date order, negative amounts, LTC grades
//! that contradict their scores (the rules a row breaks by itself, here), and duplicate keys
//! and orphan rows (the rules between rows, in [`keys`]).
//!
//! Each table's row-level rules are counted in one lazy aggregation (one scan). The result
//! counts *rows* per table and rule, with up to three example rows numbered from 1 in the
//! table's scan order; the rows that break a rule are left out of the extract.

use polars::prelude::*;

pub mod distinct;
pub mod keys;
pub mod spill;

use crate::contract::{self, ColType};
use crate::extract::{
    Extract, ExtractError, FooterStatistics, FooterValue, LoadedTable, TableSource,
};

pub use keys::KeyLimits;

/// One broken rule of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub table: &'static str,
    /// A short stable id, e.g. `null:person_id`, `enum:care_type`, `end_before_start`.
    pub rule: String,
    /// What the rule says, for people.
    pub description: String,
    /// How many rows break it.
    pub rows: u64,
}

pub struct Check {
    pub rule: String,
    pub description: String,
    /// True for a row that breaks the rule.
    pub bad: Expr,
    /// For a rule on one column, the values it accepts, when the Parquet footers can show
    /// that every value is one (`bad` is then built from it).
    pub accepts: Option<Accepts>,
}

/// The values a rule on one column accepts, in terms the Parquet footers answer: a rule
/// counted alone breaks no row when the footers show every value accepted ([`Accepts::shown_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepts {
    /// Any value but null.
    NotNull,
    /// Any text but the empty string (null too: the null rule counts it).
    NotEmpty,
    /// Integers from `lo` to `hi`, both included (an absent bound does not bound).
    Ints { lo: Option<i64>, hi: Option<i64> },
    /// Dates from `lo` to `hi`, both included.
    Dates {
        lo: chrono::NaiveDate,
        hi: chrono::NaiveDate,
    },
}

impl Accepts {
    /// True for a row whose value in `column` (of contract type `ty`) the rule does not accept.
    fn breaks(&self, column: &str, ty: ColType) -> Expr {
        let x = || col(column);
        let int = |v: i64| match ty {
            ColType::I32 => lit(v as i32),
            _ => lit(v),
        };
        let either = |a: Option<Expr>, b: Option<Expr>| match (a, b) {
            (Some(a), Some(b)) => a.or(b),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => lit(false),
        };
        match self {
            Accepts::NotNull => x().is_null(),
            Accepts::NotEmpty => x().eq(lit("")),
            Accepts::Ints { lo, hi } => {
                either(lo.map(|lo| x().lt(int(lo))), hi.map(|hi| x().gt(int(hi))))
            }
            Accepts::Dates { lo, hi } => x().lt(date_lit(*lo)).or(x().gt(date_lit(*hi))),
        }
    }

    /// Whether the footers' statistics show every value of the column accepted. Nulls are
    /// accepted by all but [`Accepts::NotNull`]; a value the footers do not give (a writer
    /// without statistics, a type not read from them) shows nothing.
    pub fn shown_by(&self, f: &FooterStatistics) -> bool {
        use FooterValue as V;
        match self {
            Accepts::NotNull => f.nulls == Some(0),
            Accepts::NotEmpty => matches!(&f.min, Some(V::Text(t)) if !t.is_empty()),
            Accepts::Ints { lo, hi } => {
                lo.is_none_or(|lo| matches!(f.min, Some(V::Int(m)) if m >= lo))
                    && hi.is_none_or(|hi| matches!(f.max, Some(V::Int(m)) if m <= hi))
            }
            Accepts::Dates { lo, hi } => {
                matches!(f.min, Some(V::Date(m)) if i64::from(m) >= epoch_days(*lo))
                    && matches!(f.max, Some(V::Date(m)) if i64::from(m) <= epoch_days(*hi))
            }
        }
    }
}

impl Check {
    /// The one column a rule reads: a rule named `kind:column` (`null:claim_id`) reads only
    /// that column; the others (`end_before_start`) read several.
    fn column(&self) -> Option<&str> {
        self.rule.split_once(':').map(|(_, c)| c)
    }

    /// Whether the rule is counted by a filter of its own rather than in the table's pass
    /// (see [`counted_alone`]); `pass` holds the columns the pass decodes anyway.
    fn alone(&self, t: &LoadedTable, pass: &[PlSmallStr]) -> bool {
        self.column().is_some_and(|c| counted_alone(t, c, pass))
    }
}

/// The columns a table's pass decodes whatever rules are counted alone: the key's, the
/// references' and those the rules between columns (`end_before_start`) read.
fn pass_columns(t: &LoadedTable, checks: &[Check]) -> Vec<PlSmallStr> {
    let spec = t.spec;
    let mut out: Vec<PlSmallStr> = spec
        .key
        .iter()
        .chain(spec.refs.iter().map(|(r, _)| r))
        .map(|c| PlSmallStr::from(*c))
        .collect();
    for c in checks.iter().filter(|c| c.column().is_none()) {
        out.extend(polars_plan::utils::expr_to_leaf_column_names(&c.bad));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether the rules on `column` alone are counted each by a filter of its own rather than
/// in the table's one pass: in Parquet, for a column the pass does not decode anyway
/// (`pass`, see [`pass_columns`]). Polars 0.55 answers such a filter from the row groups'
/// statistics and the column's dictionary where it can, while in the pass every row of the
/// column would be decoded and compared. In CSV each filter would parse the file again.
///
/// Measured on the synthetic 1 M extract (dictionary pages, no statistics; AMD machine,
/// 2026-11-24): `format:dx_code` (`str.contains`) alone 0.04 s over 62.6 M rows; the enum of
/// the 12 provider kinds alone over 79 M claims 0.04 s as `!is_in`, but 0.67 s as
/// `is_not_null & !is_in` (the conjunction is not answered from the dictionary; a null is no
/// value outside the enumeration either way). A rule on a column the pass decodes costs a
/// comparison a row there; alone it decoded the column again (the claims' dates and care type:
/// 1.2 s alone).
fn counted_alone(t: &LoadedTable, column: &str, pass: &[PlSmallStr]) -> bool {
    let parquet = matches!(
        t.source,
        TableSource::ParquetParts { .. } | TableSource::ParquetFile(_)
    );
    parquet && !pass.iter().any(|c| c == column)
}

/// The row-level rules of a table, each as a predicate true for a row that breaks it.
pub fn checks_for(t: &LoadedTable, as_of: chrono::NaiveDate) -> Vec<Check> {
    let mut out = rules_of(t, as_of);
    // An enumeration counted alone is checked by `is_in` (answered from the column's
    // dictionary); in the pass by one comparison per value: Polars 0.55 runs an aggregation
    // over an `is_in` of a literal list in memory (all 79 M claims of a 1 M-person extract,
    // 8.9 GB).
    let pass = pass_columns(t, &out);
    for check in &mut out {
        let Some(("enum", name)) = check.rule.split_once(':') else {
            continue;
        };
        let values = t
            .spec
            .columns
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.values);
        if let Some(values) = values
            && counted_alone(t, name, &pass)
        {
            check.bad = col(name)
                .is_in(
                    lit(Series::new("allowed".into(), values.to_vec())).implode(false),
                    false,
                )
                .not();
        }
    }
    out
}

fn rules_of(t: &LoadedTable, as_of: chrono::NaiveDate) -> Vec<Check> {
    let spec = t.spec;
    let mut out = Vec::new();
    for c in spec.columns {
        if !c.nullable {
            out.push(bounded(
                spec,
                "null",
                c.name,
                format!("`{}` is empty but may not be", c.name),
                Accepts::NotNull,
            ));
        }
        if let Some(values) = c.values {
            // One comparison per value; an `is_in` when counted alone (see `checks_for`).
            let allowed = values
                .iter()
                .map(|v| col(c.name).eq(lit(*v)))
                .reduce(|a, b| a.or(b))
                .unwrap_or(lit(false));
            out.push(Check {
                rule: format!("enum:{}", c.name),
                description: format!("`{}` is not one of {}", c.name, values.join(", ")),
                bad: col(c.name).is_not_null().and(allowed.not()),
                accepts: None,
            });
        }
        if c.ty == ColType::Str && !c.nullable && c.values.is_none() {
            out.push(bounded(
                spec,
                "empty",
                c.name,
                format!("`{}` is an empty string", c.name),
                Accepts::NotEmpty,
            ));
        }
        if c.ty == ColType::Date {
            out.push(bounded(
                spec,
                "date_range",
                c.name,
                format!(
                    "`{}` is before 1900-01-01 or more than 10 years after as_of",
                    c.name
                ),
                Accepts::Dates {
                    lo: date(1900, 1, 1),
                    hi: date(as_of_year(as_of) + 10, 1, 1),
                },
            ));
        }
    }
    let nonneg = |name: &str| {
        bounded(
            spec,
            "negative",
            name,
            format!("`{name}` is negative"),
            Accepts::Ints {
                lo: Some(0),
                hi: None,
            },
        )
    };
    let ints = |name: &str, description: &str, lo: i64, hi: Option<i64>| {
        bounded(
            spec,
            "range",
            name,
            description.to_string(),
            Accepts::Ints { lo: Some(lo), hi },
        )
    };
    match spec.name {
        "persons" => {
            out.push(sgg_check("sgg_code"));
            out.push(ints(
                "birth_year",
                "`birth_year` is outside 1890 – the as_of year",
                1890,
                Some(as_of_year(as_of).into()),
            ));
            out.push(ints(
                "income_decile",
                "`income_decile` is outside 1–10",
                1,
                Some(10),
            ));
        }
        "claims" => {
            out.push(nonneg("cost_krw"));
            out.push(Check {
                rule: "end_before_start".into(),
                description: "`end_date` is before `start_date`".into(),
                bad: col("end_date").lt(col("start_date")),
                accepts: None,
            });
            out.push(Check {
                rule: "end_not_start".into(),
                description: "a claim other than `IN` has `end_date` different from `start_date`"
                    .into(),
                bad: col("care_type")
                    .neq(lit("IN"))
                    .and(col("end_date").neq_missing(col("start_date"))),
                accepts: None,
            });
        }
        "diagnoses" => {
            out.push(Check {
                rule: "format:dx_code".into(),
                description: "`dx_code` is not an upper-case KCD code of 3–6 characters without a dot".into(),
                bad: col("dx_code").str().contains(lit(r"^[A-Z][0-9A-Z]{2,5}$"), true).not(),
                accepts: None,
            });
            out.push(ints("dx_order", "`dx_order` is below 1", 1, None));
        }
        "prescriptions" => {
            out.push(Check {
                rule: "format:ingredient_code".into(),
                description: "`ingredient_code` is not 9 characters".into(),
                bad: col("ingredient_code").str().len_chars().neq(lit(9u32)),
                accepts: None,
            });
            out.push(ints("days_supply", "`days_supply` is below 1", 1, None));
        }
        "ltc_assessments" => {
            let decided = col("status").eq(lit("DECIDED"));
            out.push(Check {
                rule: "decision_fields".into(),
                description:
                    "a DECIDED row lacks decision_date, grade or score, or an undecided row has one"
                        .into(),
                bad: decided
                    .clone()
                    .and(
                        col("decision_date")
                            .is_null()
                            .or(col("grade").is_null())
                            .or(col("score").is_null()),
                    )
                    .or(decided.clone().not().and(
                        col("decision_date")
                            .is_not_null()
                            .or(col("grade").is_not_null())
                            .or(col("score").is_not_null()),
                    )),
                accepts: None,
            });
            out.push(Check {
                rule: "decision_before_application".into(),
                description: "`decision_date` is before `application_date`".into(),
                bad: col("decision_date").lt(col("application_date")),
                accepts: None,
            });
            // Score bands of 시행령 제7조; 등급외 A/B/C below 51.
            let s = || col("score");
            let band = |g: &str, lo: f64, hi: f64| {
                col("grade")
                    .eq(lit(g))
                    .and(s().lt(lit(lo)).or(s().gt_eq(lit(hi))))
            };
            let below = |g: &str, hi: f64| col("grade").eq(lit(g)).and(s().gt_eq(lit(hi)));
            out.push(Check {
                rule: "grade_score".into(),
                description: "the grade contradicts the score (1 ≥ 95, 2 75–<95, 3 60–<75, 4 51–<60, 5 45–<51, CS < 45, A/B/C < 51)".into(),
                bad: band("1", 95.0, 100.0001)
                    .or(band("2", 75.0, 95.0))
                    .or(band("3", 60.0, 75.0))
                    .or(band("4", 51.0, 60.0))
                    .or(band("5", 45.0, 51.0))
                    .or(below("CS", 45.0))
                    .or(below("A", 51.0))
                    .or(below("B", 51.0))
                    .or(below("C", 51.0))
                    .or(s().lt(lit(0.0)))
                    .or(s().gt(lit(100.0))),
                accepts: None,
            });
        }
        "ltc_services" => {
            out.push(nonneg("cost_krw"));
            out.push(ints("days", "`days` is outside 1–31", 1, Some(31)));
            out.push(Check {
                rule: "month_start:service_month".into(),
                description: "`service_month` is not the first day of a month".into(),
                bad: col("service_month").dt().day().neq(lit(1)),
                accepts: None,
            });
        }
        "program_history" => {
            out.push(sgg_check("sgg_code"));
            out.push(Check {
                rule: "month_start:event_month".into(),
                description: "`event_month` is not the first day of a month".into(),
                bad: col("event_month").dt().day().neq(lit(1)),
                accepts: None,
            });
        }
        _ => {}
    }
    out
}

/// The rule `kind:column` of a contract column, accepting the values `accepts` says (its
/// `bad` built from them, for the column's contract type).
fn bounded(
    spec: &contract::Table,
    kind: &str,
    column: &str,
    description: String,
    accepts: Accepts,
) -> Check {
    let ty = spec
        .column(column)
        .expect("a contract rule names a column of its table")
        .ty;
    Check {
        rule: format!("{kind}:{column}"),
        description,
        bad: accepts.breaks(column, ty),
        accepts: Some(accepts),
    }
}

fn sgg_check(name: &str) -> Check {
    Check {
        rule: format!("format:{name}"),
        description: format!("`{name}` is not a 5-digit 시군구 code"),
        bad: col(name).str().contains(lit(r"^[0-9]{5}$"), true).not(),
        accepts: None,
    }
}

/// A `Date` literal (`lit(NaiveDate)` is a `Datetime` in polars 0.55: a row-by-row cast).
fn date_lit(d: chrono::NaiveDate) -> Expr {
    lit(epoch_days(d) as i32).cast(DataType::Date)
}

/// Days since 1970-01-01: how Polars and Parquet store a `Date`.
fn epoch_days(d: chrono::NaiveDate) -> i64 {
    (d - date(1970, 1, 1)).num_days()
}

fn as_of_year(d: chrono::NaiveDate) -> i32 {
    chrono::Datelike::year(&d)
}

fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn read_err(t: &LoadedTable, e: PolarsError) -> ExtractError {
    ExtractError::read(&t.source, e)
}

/// A broken rule found in one table: how many rows break it and how to tell them.
#[derive(Clone)]
pub struct Finding {
    pub rule: String,
    pub description: String,
    pub rows: u64,
    /// True for a row that breaks the rule, on the rows kept when it was checked.
    pub bad: Expr,
}

/// Checks every row of every table and returns the broken rules, in contract order (for
/// callers that only want to know, e.g. a test that synthetic data meets the contract).
pub fn check(ex: &Extract, as_of: chrono::NaiveDate) -> Result<Vec<Violation>, ExtractError> {
    let mut ex = ex.clone();
    Ok(validate(&mut ex, as_of)?
        .into_iter()
        .flat_map(|s| s.rules)
        .collect())
}

/// The rows of one table set aside because they break the data contract.
#[derive(Debug, Clone)]
pub struct SetAside {
    pub table: &'static str,
    /// Rows in the table.
    pub rows_total: u64,
    /// Rows set aside (a row breaking several rules counts once).
    pub rows_set_aside: u64,
    /// Rows breaking each rule (a row may break more than one row-level rule; the key rules
    /// count only rows the rules before them kept).
    pub rules: Vec<Violation>,
    /// The first three rows breaking each rule, as `row N: col=value, …` (N counts data
    /// rows from 1 in the table's scan order).
    pub examples: Vec<(String, Vec<String>)>,
    /// The rules a row breaks, `; `-separated (null for a row kept).
    reason: Expr,
}

impl SetAside {
    /// The share of the table's rows set aside.
    pub fn share(&self) -> f64 {
        if self.rows_total == 0 {
            0.0
        } else {
            self.rows_set_aside as f64 / self.rows_total as f64
        }
    }

    /// The rows set aside, as read, with a `reason` column: what `quarantine/<table>.csv`
    /// holds. Read only when the lists are written (not for a dry run, nor a run stopped by
    /// `--strict` or `--max-bad-rows`).
    pub fn rows(&self, ex: &Extract) -> Result<DataFrame, ExtractError> {
        let t = ex.table(self.table);
        Ok(t.raw_lazy()
            .filter(t.set_aside_expr())
            .with_column(self.reason.clone().alias("reason"))
            .collect_with_engine(Engine::Streaming)
            .map_err(|e| read_err(t, e))?
            .unwrap_single())
    }
}

/// Validates every row of every table against the data contract, table by table in contract
/// order, and leaves the rows that break it out of `ex` (see [`Extract::set_aside`]).
///
/// First the rules a row can break by itself (nulls, enumerations, formats, ranges, date
/// order, grade against score), counted in one pass per table; a clean table (the usual case)
/// costs that one pass. Then, on the rows kept, the rules between rows: orphans (a
/// `person_id` or `claim_id` not among the kept rows of its parent, checked before the child)
/// and duplicate keys (see [`keys`]).
pub fn validate(ex: &mut Extract, as_of: chrono::NaiveDate) -> Result<Vec<SetAside>, ExtractError> {
    validate_with(ex, as_of, KeyLimits::default())
}

/// [`validate`] with the key checks' strategy limits given.
pub fn validate_with(
    ex: &mut Extract,
    as_of: chrono::NaiveDate,
    limits: KeyLimits,
) -> Result<Vec<SetAside>, ExtractError> {
    validate_keeping(ex, as_of, limits, &[])
}

/// A table's rows kept for the features are at most one in this many of its rows (or
/// [`KEPT_ROWS_ANYWAY`]): past it the features scan the table as usual, and the memory held
/// stays a small share of the table's. Under policy-v1 the claims' features read 0.6 % of the
/// claims (468,818 of 78.7 M at 1 M persons).
pub const KEPT_ROWS_AT_MOST_ONE_IN: u64 = 32;

/// As many rows as are kept for the features of any table, however small the share.
pub const KEPT_ROWS_ANYWAY: u64 = 1 << 16;

/// A distinct-count tap ([`keys::Taps::count_distinct`]) gives up past one distinct (person,
/// value) pair in this many rows of its table (16 bytes a pair: 9.8 M pairs, 158 MB, for the
/// 78.8 M prescriptions of a 1 M-person extract, whose 90-day window holds 2.83 M).
pub const DISTINCT_PAIRS_AT_MOST_ONE_IN: u64 = 8;

/// [`validate_with`], also keeping in memory the rows `wanted` of each table (see
/// [`crate::extract::RowsWanted`]) as the table's row-rule pass reads them: kept
/// ([`Extract::keep_rows`]) only if no row of the table is set aside, the pass saw every
/// row, and at most one row in [`KEPT_ROWS_AT_MOST_ONE_IN`] (or [`KEPT_ROWS_ANYWAY`]) is
/// wanted. The features then read them instead of scanning the table again. The distinct
/// counts `wanted` are taken in the same pass ([`distinct`]) and kept
/// ([`Extract::keep_distinct`]) on the same conditions.
pub fn validate_keeping(
    ex: &mut Extract,
    as_of: chrono::NaiveDate,
    limits: KeyLimits,
    wanted: &[crate::extract::RowsWanted],
) -> Result<Vec<SetAside>, ExtractError> {
    let names: Vec<&'static str> = ex.tables().map(|t| t.spec.name).collect();
    let mut kept_rows: Vec<(&'static str, u64)> = Vec::new();
    // The kept key hashes of each parent validated so far that a table still to come refers
    // to (the persons, the claims).
    let mut parent_hashes: Vec<keys::ParentHashes> = Vec::new();
    let mut out = Vec::new();
    for name in names {
        let t = ex.table(name).clone();
        let checks = checks_for(&t, as_of);
        // The key columns the key checks will hash, hashed during the row-rule scan so that
        // their text is decoded once; each column's hashes within one pass's budget (at most
        // two such columns a table, next to the parent's kept hashes). `rows` (from the
        // files' metadata where they have it) only sizes them; the counts below come from
        // the scans themselves.
        let rows = crate::extract::count_rows(&t)?;
        let mut taps = keys::Taps::default();
        if !t.spec.key.is_empty() {
            taps.want(
                "__key",
                keys::key_text(t.spec.key),
                rows,
                keys::passes(rows, limits),
            )?;
        }
        for &(column, parent) in t.spec.refs {
            // Looked up in the parent's kept hashes when they are at hand (the persons' for
            // every table, the claims' for the diagnoses and prescriptions: in memory when
            // they fit one pass, else spilled by pass, the child's then spilled by the same
            // passes), else checked by a scan of its own afterwards.
            if let Some(h) = parent_hashes.iter().find(|h| h.table == parent) {
                taps.probe_hashes(column, &h.kept, limits.probe_max_missing);
            }
        }
        let wanted_here = wanted.iter().find(|w| w.table == name);
        if let Some(w) = wanted_here {
            if let Some(keep) = w.covers.iter().cloned().reduce(|a, b| a.or(b)) {
                taps.keep_rows(
                    keep,
                    w.columns.clone(),
                    usize::try_from((rows / KEPT_ROWS_AT_MOST_ONE_IN).max(KEPT_ROWS_ANYWAY))
                        .unwrap_or(usize::MAX),
                );
            }
            for d in &w.distinct {
                taps.count_distinct(
                    d.keep.clone(),
                    d.value.clone(),
                    usize::try_from((rows / DISTINCT_PAIRS_AT_MOST_ONE_IN).max(KEPT_ROWS_ANYWAY))
                        .unwrap_or(usize::MAX),
                );
            }
        }
        let (total, row_findings, row_bad_rows) = row_rules(&t, &checks, &taps, rows)?;
        // The tapped keys are non-null columns: a tap must have counted every row kept, or it
        // is not trusted (and the key is scanned again).
        let rows_kept = total.saturating_sub(row_bad_rows);
        let mut tapped = taps.take_sorted()?;
        let mut tapped_of = |name: &str| {
            tapped
                .iter()
                .position(|c| c.name == name)
                .map(|i| tapped.swap_remove(i))
                .filter(|c| c.hashes.len() == rows_kept)
                .map(|c| c.hashes)
        };
        // (rule, reason predicate on the rows as read)
        let mut reasons: Vec<(Finding, Expr)> = Vec::new();
        if !row_findings.is_empty() {
            let any = row_findings
                .iter()
                .map(|f| f.bad.clone())
                .reduce(|a, b| a.or(b))
                .unwrap_or(lit(false));
            for f in row_findings {
                let when = f.bad.clone();
                reasons.push((f, when));
            }
            ex.set_aside(name, any);
        }
        let mut kept = rows_kept;
        let mut orphans_set_aside = false;
        for &(column, parent) in t.spec.refs {
            let parent_rows = rows_of(&kept_rows, parent);
            let t = ex.table(name).clone();
            // A hash probe looked the values of the rows the row rules kept up in the
            // parent's kept hashes: it still serves after an earlier key rule set rows aside,
            // as a missing hash is confirmed on the rows kept.
            let hash_probed = taps
                .take_hash_probe(column)?
                .filter(|p| p.rows == rows_kept)
                .and_then(|p| p.missing);
            let found = match hash_probed {
                Some(missing) => keys::hashed_orphans(&t, column, ex.table(parent), missing)?,
                None => keys::orphans(
                    &t,
                    column,
                    ex.table(parent),
                    parent_rows,
                    kept,
                    parent_hashes.iter().find(|h| h.table == parent),
                    limits,
                )?,
            };
            if let Some(f) = found {
                orphans_set_aside = true;
                let when = f.bad.clone().and(t.set_aside_expr().not());
                kept -= f.rows;
                ex.set_aside(name, f.bad.clone());
                reasons.push((f, when));
            }
        }
        // A table's children come after it in contract order.
        let later = || {
            contract::TABLES
                .iter()
                .skip_while(move |c| c.name != name)
                .skip(1)
        };
        let referred = |table: &str| later().any(|c| c.refs.iter().any(|(_, p)| *p == table));
        let t = ex.table(name).clone();
        let keep_hashes = referred(name);
        let keys::Duplicates {
            finding: dup,
            parent: hashes,
            hashes_distinct,
        } = keys::duplicates(
            &t,
            kept,
            keep_hashes,
            limits,
            // Tapped keys may include rows set aside since by an orphan rule: harmless for
            // finding duplicates (confirmed on the rows kept), but not as the keys a parent
            // kept, which its children are checked against.
            tapped_of("__key").filter(|_| !(keep_hashes && orphans_set_aside)),
        )?;
        parent_hashes.extend(hashes);
        if hashes_distinct {
            ex.set_key_hashes_distinct(name);
        }
        if let Some(f) = dup {
            let when = f.bad.clone().and(t.set_aside_expr().not());
            kept -= f.rows;
            ex.set_aside(name, f.bad.clone());
            reasons.push((f, when));
        }
        kept_rows.push((name, kept));
        // Free the parents' hashes once no table still to come refers to them.
        parent_hashes.retain(|h| referred(h.table));
        if reasons.is_empty() {
            if let Some(w) = wanted_here {
                for (d, (counts, seen)) in w.distinct.iter().zip(taps.take_distinct()) {
                    if let Some(counts) = counts
                        && seen == total
                    {
                        ex.keep_distinct(
                            name,
                            crate::extract::KeptDistinct {
                                wanted: d.clone(),
                                counts,
                            },
                        );
                    }
                }
            }
            if let Some(w) = wanted_here
                && let Some(keys::TappedRows {
                    frames: Some(frames),
                    seen,
                }) = taps.take_rows()
                && seen == total
            {
                let rows =
                    rows_kept_for_features(&t, &w.columns, frames).map_err(|e| read_err(&t, e))?;
                ex.keep_rows(
                    name,
                    crate::extract::KeptRows {
                        covers: w.covers.clone(),
                        rows,
                    },
                );
            }
            continue;
        }
        let raw = ex.table(name).raw_lazy();
        let mut rules = Vec::new();
        let mut examples = Vec::new();
        for (f, when) in &reasons {
            rules.push(Violation {
                table: t.spec.name,
                rule: f.rule.clone(),
                description: f.description.clone(),
                rows: f.rows,
            });
            let ex_df = raw
                .clone()
                .with_row_index("__row", Some(1))
                .filter(when.clone().fill_null(lit(false)))
                .limit(3)
                .collect()
                .map_err(|e| read_err(&t, e))?;
            examples.push((f.rule.clone(), render_rows(&ex_df)));
        }
        let reason = concat_str(
            reasons
                .iter()
                .map(|(f, pred)| {
                    when(pred.clone().fill_null(lit(false)))
                        .then(lit(f.rule.as_str()))
                        .otherwise(lit(NULL).cast(DataType::String))
                })
                .collect::<Vec<_>>(),
            "; ",
            true,
        );
        out.push(SetAside {
            table: t.spec.name,
            rows_total: total,
            rows_set_aside: total - kept,
            rules,
            examples,
            reason,
        });
    }
    Ok(out)
}

/// The rows a tap kept, as one frame sorted by all its columns (so that neither the threads
/// nor the order of the chunks shows); `columns` of `t`, no row, when the tap kept none.
fn rows_kept_for_features(
    t: &LoadedTable,
    columns: &[String],
    frames: Vec<DataFrame>,
) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = columns.iter().map(|c| c.as_str().into()).collect();
    if frames.is_empty() {
        return t
            .lazy()
            .select(names.iter().map(|c| col(c.clone())).collect::<Vec<_>>())
            .limit(0)
            .collect();
    }
    concat(
        frames.into_iter().map(DataFrame::lazy).collect::<Vec<_>>(),
        UnionArgs::default(),
    )?
    .sort(names, SortMultipleOptions::default())
    .collect()
}

/// The row-level rules of one table: its rows, the rules broken (with their counts) and the
/// rows breaking any. A clean table (the usual case) costs one streaming pass that counts the
/// rows breaking any rule (a filter: cheaper than one sum per rule, 3.6 s against 5.4 s for 79
/// M claims) and, when `taps` asks for any, hashes the keys of the rows kept, plus one small
/// filter for each rule counted alone ([`Check::alone`]); only a table with broken rows is
/// read again for the count of each rule. `rows` is the table's row count as known
/// beforehand, used only when no scan counted them.
fn row_rules(
    t: &LoadedTable,
    checks: &[Check],
    taps: &keys::Taps,
    rows: u64,
) -> Result<(u64, Vec<Finding>, u64), ExtractError> {
    let bads: Vec<Expr> = checks
        .iter()
        .map(|c| c.bad.clone().fill_null(lit(false)))
        .collect();
    let counts = |lf: LazyFrame, names: &[&str]| -> Result<Vec<u64>, ExtractError> {
        let df = lf
            .collect_with_engine(Engine::Streaming)
            .map_err(|e| read_err(t, e))?
            .unwrap_single();
        Ok(names
            .iter()
            .map(|n| {
                df.column(n)
                    .ok()
                    .and_then(|s| s.get(0).ok())
                    .and_then(|v| v.extract::<u64>())
                    .unwrap_or(0)
            })
            .collect())
    };
    // A plain `len()` after a filter: polars 0.55 counts a filter's rows ~10× faster so than
    // with the count cast (0.09 s against 1.0 s over 63 M diagnoses).
    let filtered = |bad: Expr| counts(t.lazy().filter(bad).select([len().alias("n")]), &["n"]);
    // Each rule counted alone by its own filter (`None` for the rules counted in the pass),
    // but the Parquet footers answer first for a rule that says which values it accepts
    // ([`Accepts`]): a filter runs only where the footers' null counts, least or greatest
    // values do not show every value accepted. Polars 0.55 answers none of these rules from
    // the statistics: at 1 M persons the 41 rules counted alone took 3.0 s, the 16 null rules
    // among them 1.3 s (`null:ingredient_code` 0.24 s, `null:provider_id` 0.22 s over 79 M
    // rows); once those were answered by the footers, the 24 left took 1.46 s, of which
    // `empty:provider_id` 0.27 s, the prescriptions' `date_range:start_date` 0.24 s and
    // `negative:cost_krw` 0.20 s. A footer's statistics are the writer's word for its row
    // group (Polars, DuckDB and Spark skip row groups by them too).
    let pass = pass_columns(t, checks);
    let mut columns: Vec<&str> = checks
        .iter()
        .filter(|c| c.accepts.is_some() && c.alone(t, &pass))
        .filter_map(Check::column)
        .collect();
    columns.sort_unstable();
    columns.dedup();
    let footers = t.footer_statistics(&columns);
    let shown_by_footers = |c: &Check| {
        let (Some(accepts), Some(column)) = (&c.accepts, c.column()) else {
            return false;
        };
        columns
            .binary_search(&column)
            .is_ok_and(|i| accepts.shown_by(&footers[i]))
    };
    let mut alone: Vec<Option<u64>> = Vec::with_capacity(checks.len());
    for (c, bad) in checks.iter().zip(&bads) {
        alone.push(if !c.alone(t, &pass) {
            None
        } else if shown_by_footers(c) {
            Some(0)
        } else {
            Some(filtered(bad.clone())?[0])
        });
    }
    let in_pass: Vec<usize> = (0..checks.len()).filter(|&i| alone[i].is_none()).collect();
    let or_of = |which: &mut dyn Iterator<Item = usize>| {
        which
            .map(|i| bads[i].clone())
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(false))
    };
    let any_in_pass = or_of(&mut in_pass.iter().copied());
    let (total, broken_in_pass) = if taps.is_empty() {
        let n = filtered(any_in_pass)?;
        (rows.max(n[0]), n[0])
    } else {
        // A sum, not a filter: Polars evaluates a scan's filter on some rows twice, and the
        // tap must see each row once.
        let n = counts(
            taps.prepare(t.lazy()).select([
                taps.tap(any_in_pass)
                    .cast(DataType::UInt64)
                    .sum()
                    .alias("n"),
                len().cast(DataType::UInt64).alias("total"),
            ]),
            &["n", "total"],
        )?;
        (n[1], n[0])
    };
    let broken_alone = alone.iter().flatten().any(|&n| n > 0);
    if broken_in_pass == 0 && !broken_alone {
        return Ok((total, Vec::new(), 0));
    }
    // The rows breaking any rule: a row may break rules counted apart.
    let broken = if broken_alone {
        filtered(or_of(&mut (0..checks.len())))?[0]
    } else {
        broken_in_pass
    };
    // The count of each rule of the pass, in a second pass.
    let mut names: Vec<String> = in_pass.iter().map(|i| format!("c{i}")).collect();
    let mut aggs: Vec<Expr> = in_pass
        .iter()
        .zip(&names)
        .map(|(&i, name)| bads[i].clone().cast(DataType::UInt64).sum().alias(name))
        .collect();
    names.push("total".into());
    aggs.push(len().cast(DataType::UInt64).alias("total"));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let n = counts(t.lazy().select(aggs), &names)?;
    let mut of_pass = n.into_iter();
    let per_rule: Vec<u64> = alone
        .iter()
        .map(|a| a.unwrap_or_else(|| of_pass.next().unwrap_or(0)))
        .collect();
    let total = of_pass.next().unwrap_or(total);
    let findings = checks
        .iter()
        .zip(bads)
        .zip(per_rule)
        .filter_map(|((c, bad), n)| {
            (n > 0).then(|| Finding {
                rule: c.rule.clone(),
                description: c.description.clone(),
                rows: n,
                bad,
            })
        })
        .collect();
    Ok((total, findings, broken))
}

/// The rows kept of a table already validated (0 if none).
fn rows_of(kept_rows: &[(&'static str, u64)], table: &str) -> u64 {
    kept_rows
        .iter()
        .find(|(n, _)| *n == table)
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

/// `row N: col=value, …` for each row of `df` (its first column is the row number).
fn render_rows(df: &DataFrame) -> Vec<String> {
    let cols = df.columns();
    (0..df.height())
        .map(|r| {
            let mut parts = Vec::new();
            let mut row_no = String::new();
            for c in cols.iter() {
                let v = c.get(r).map(|v| v.to_string()).unwrap_or_default();
                let v = v.trim_matches('"').to_string();
                if c.name().as_str() == "__row" {
                    row_no = v;
                } else {
                    parts.push(format!("{}={}", c.name(), v));
                }
            }
            format!("row {row_no}: {}", parts.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footers(min: Option<FooterValue>, max: Option<FooterValue>, nulls: u64) -> FooterStatistics {
        FooterStatistics {
            nulls: Some(nulls),
            min,
            max,
        }
    }

    /// The footers settle a rule at its bounds (both included) and not a value past them; a
    /// bound the footers do not give, or give of another type, settles nothing.
    #[test]
    fn footers_show_values_accepted_up_to_the_bounds_included() {
        use FooterValue::{Date, Int, Text};
        let days = Accepts::Ints {
            lo: Some(1),
            hi: Some(31),
        };
        assert!(days.shown_by(&footers(Some(Int(1)), Some(Int(31)), 5)));
        assert!(!days.shown_by(&footers(Some(Int(0)), Some(Int(31)), 0)));
        assert!(!days.shown_by(&footers(Some(Int(1)), Some(Int(32)), 0)));
        assert!(!days.shown_by(&footers(Some(Int(1)), None, 0)));
        assert!(!days.shown_by(&footers(Some(Date(1)), Some(Date(31)), 0)));
        let nonneg = Accepts::Ints {
            lo: Some(0),
            hi: None,
        };
        assert!(nonneg.shown_by(&footers(Some(Int(0)), None, 0)));
        assert!(!nonneg.shown_by(&footers(Some(Int(-1)), Some(Int(5)), 0)));
        let range = Accepts::Dates {
            lo: date(1900, 1, 1),
            hi: date(2036, 1, 1),
        };
        let day = |y, m, d| Some(Date(epoch_days(date(y, m, d)) as i32));
        assert!(range.shown_by(&footers(day(1900, 1, 1), day(2036, 1, 1), 0)));
        assert!(!range.shown_by(&footers(day(1899, 12, 31), day(2026, 1, 1), 0)));
        assert!(!range.shown_by(&footers(day(1950, 1, 1), day(2036, 1, 2), 0)));
        assert!(Accepts::NotEmpty.shown_by(&footers(Some(Text(b"\0".to_vec())), None, 3)));
        assert!(!Accepts::NotEmpty.shown_by(&footers(Some(Text(Vec::new())), None, 0)));
        assert!(!Accepts::NotEmpty.shown_by(&footers(None, None, 0)));
        assert!(Accepts::NotNull.shown_by(&footers(None, None, 0)));
        assert!(!Accepts::NotNull.shown_by(&footers(None, None, 1)));
        let unknown = FooterStatistics::default();
        assert!(!Accepts::NotNull.shown_by(&unknown));
    }

    /// `check`'s verdict on each row of `df` (a null counts as not broken, as in `row_rules`).
    fn breaks(check: &Check, df: DataFrame) -> Vec<Option<bool>> {
        let out = df
            .lazy()
            .select([check.bad.clone().fill_null(lit(false)).alias("bad")])
            .collect()
            .unwrap();
        out.column("bad").unwrap().bool().unwrap().iter().collect()
    }

    /// A rule's filter breaks exactly the values its `Accepts` does not accept: the bounds'
    /// values and a null pass, one past either bound breaks.
    #[test]
    fn a_bounded_rule_breaks_the_values_past_its_bounds() {
        let spec = contract::table("ltc_services").unwrap();
        let days = bounded(
            spec,
            "range",
            "days",
            String::new(),
            Accepts::Ints {
                lo: Some(1),
                hi: Some(31),
            },
        );
        assert_eq!(days.rule, "range:days");
        let df = df!("days" => [Some(0i32), Some(1), Some(31), Some(32), None]).unwrap();
        assert_eq!(
            breaks(&days, df),
            [
                Some(true),
                Some(false),
                Some(false),
                Some(true),
                Some(false)
            ]
        );
        let spec = contract::table("persons").unwrap();
        let death = bounded(
            spec,
            "date_range",
            "death_date",
            String::new(),
            Accepts::Dates {
                lo: date(1900, 1, 1),
                hi: date(2036, 1, 1),
            },
        );
        let dates = [
            date(1899, 12, 31),
            date(1900, 1, 1),
            date(2036, 1, 1),
            date(2036, 1, 2),
        ];
        let df = df!("death_date" => dates).unwrap();
        assert_eq!(
            breaks(&death, df),
            [Some(true), Some(false), Some(false), Some(true)]
        );
    }
}
