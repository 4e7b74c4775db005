//! Lowering the IR to one Polars lazy plan: one row per person with every feature, derived
//! value, condition, score term, the total score and the explanation.
//!
//! Per event table, the features that read it share one scan and one group-by; a distinct
//! count, and each group of latest-value features with one filter and order, get a pipeline
//! of their own (both stream that way; inside the shared group-by they did not). Rows dated
//! after R are dropped first, then rows no feature can use, by a cheap predicate the
//! features' filters imply (each aggregation re-applies its feature's full filter). Only the
//! columns the features read are projected, so Polars pushes the projection and the filters
//! into the scans (Parquet row groups are skipped by their statistics). A run joins the
//! diagnoses to their claims part by part when both come in as many Parquet parts
//! ([`shared_per_person_by_parts`]), else in passes, one share of the claim ids at a time
//! ([`JOIN_ROWS_PER_PASS`]): either way that join's memory does not grow with the extract.

use chrono::Datelike;
use polars::prelude::*;

use crate::contract;
use crate::extract::Extract;
use crate::ir::{self, Agg, Arith, Cmp, Condition, Feature, ReasonPart, RuleSet, ScoreRule, Value};
use crate::rules::check::codeset_column;
use crate::validate::keys;

/// Column names of the person frame that are not rule names.
pub const ELIGIBLE: &str = "__eligible";
pub const SUPPRESSED: &str = "__suppressed";
pub const CANDIDATE: &str = "__candidate";
pub const SCORE: &str = "score";
pub const COHORTS: &str = "cohorts";
pub const REASONS: &str = "reasons";

pub fn base_col(id: &str) -> String {
    format!("base:{id}")
}
pub fn cohort_col(id: &str) -> String {
    format!("cohort:{id}")
}
pub fn suppress_col(id: &str) -> String {
    format!("suppress:{id}")
}
pub fn score_col(id: &str) -> String {
    format!("score:{id}")
}

fn value(v: &Value) -> Expr {
    match v {
        Value::Bool(b) => lit(*b),
        Value::Int(i) => lit(*i),
        Value::Float(f) => lit(*f),
        Value::Str(s) => lit(s.as_str()),
        Value::Date(d) => date_lit(*d),
        Value::StrList(l) => lit(Series::new("list".into(), l.clone())).implode(false),
        Value::Null => lit(NULL),
    }
}

fn list(values: &[Value]) -> Expr {
    if values.iter().all(|v| matches!(v, Value::Str(_))) {
        let v: Vec<&str> = values
            .iter()
            .filter_map(|v| {
                if let Value::Str(s) = v {
                    Some(s.as_str())
                } else {
                    None
                }
            })
            .collect();
        return lit(Series::new("list".into(), v)).implode(false);
    }
    if values.iter().all(|v| matches!(v, Value::Int(_))) {
        let v: Vec<i64> = values
            .iter()
            .filter_map(|v| {
                if let Value::Int(i) = v {
                    Some(*i)
                } else {
                    None
                }
            })
            .collect();
        return lit(Series::new("list".into(), v)).implode(false);
    }
    let v: Vec<f64> = values
        .iter()
        .filter_map(|v| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        })
        .collect();
    lit(Series::new("list".into(), v)).implode(false)
}

/// Lowers an IR expression to a Polars expression.
pub fn expr(e: &ir::Expr) -> Expr {
    use ir::Expr as E;
    match e {
        E::Lit(v, _) => value(v),
        E::Col(c) => col(c.as_str()),
        E::Not(x) => expr(x).not(),
        E::And(a, b) => expr(a).and(expr(b)),
        E::Or(a, b) => expr(a).or(expr(b)),
        E::Cmp(c, a, b) => {
            let (a, b) = (expr(a), expr(b));
            match c {
                Cmp::Eq => a.eq(b),
                Cmp::Ne => a.neq(b),
                Cmp::Lt => a.lt(b),
                Cmp::Le => a.lt_eq(b),
                Cmp::Gt => a.gt(b),
                Cmp::Ge => a.gt_eq(b),
            }
        }
        E::Arith(op, a, b) => {
            let (a, b) = (expr(a), expr(b));
            match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a.cast(DataType::Float64) / b.cast(DataType::Float64),
            }
        }
        E::IsNull(x, negated) => {
            if *negated {
                expr(x).is_not_null()
            } else {
                expr(x).is_null()
            }
        }
        E::In(x, values, negated) => {
            let m = expr(x).is_in(list(values), false);
            if *negated { m.not() } else { m }
        }
        E::If(c, a, b) => when(expr(c)).then(expr(a)).otherwise(expr(b)),
        E::DaysBetween(a, b) => {
            expr(b).cast(DataType::Int32).cast(DataType::Int64)
                - expr(a).cast(DataType::Int32).cast(DataType::Int64)
        }
        E::Year(x) => expr(x).dt().year().cast(DataType::Int64),
        E::StartsWithAny(x, prefixes) => starts_with_any(expr(x), prefixes),
        E::Text(x) => expr(x).cast(DataType::String),
    }
}

/// A date literal of type `Date` (days since 1970-01-01). `lit(NaiveDate)` is a `Datetime`
/// in polars 0.55, which makes every comparison cast the column to nanoseconds row by row
/// and keeps the scan from pruning row groups by their date statistics.
fn date_lit(d: chrono::NaiveDate) -> Expr {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    lit((d - epoch).num_days() as i32).cast(DataType::Date)
}

fn starts_with_any(x: Expr, prefixes: &[String]) -> Expr {
    // One `starts_with` per prefix: polars 0.55 pushes this into the scan, but not a
    // `str.head(n).is_in(list)` (tried: 36 s and 10.6 GB instead of 13 s and 3.6 GB).
    prefixes
        .iter()
        .map(|p| x.clone().str().starts_with(lit(p.as_str())))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// True where `x` starts with one of the prefixes or equals one of the exact codes of any of
/// the sets: one `is_in` per prefix length (`str.head(n)` in the list of n-character
/// prefixes). Over the 63 M diagnoses of a 1 M-person extract this is 2.8 s against 5.1 s
/// for one `starts_with` per prefix of policy-v1; Polars 0.55 does not push it through a
/// join, so [`table_rows`] applies it to the table's own rows before joining.
fn any_codeset_match(x: &Expr, sets: &[ir::CodeSet]) -> Expr {
    let mut by_len: std::collections::BTreeMap<usize, Vec<&str>> = Default::default();
    let mut exact: Vec<&str> = Vec::new();
    for s in sets {
        for p in &s.prefixes {
            by_len
                .entry(p.chars().count())
                .or_default()
                .push(p.as_str());
        }
        exact.extend(s.exact.iter().map(String::as_str));
    }
    let mut m: Vec<Expr> = by_len
        .into_iter()
        .map(|(n, ps)| {
            x.clone()
                .str()
                .head(lit(n as i64))
                .is_in(lit(Series::new("list".into(), ps)).implode(false), false)
        })
        .collect();
    if !exact.is_empty() {
        m.push(
            x.clone()
                .is_in(lit(Series::new("list".into(), exact)).implode(false), false),
        );
    }
    m.into_iter().reduce(|a, b| a.or(b)).unwrap_or(lit(false))
}

/// The code sets one mask column holds: the bits of a `u64`.
const SETS_PER_MASK: usize = 64;

/// Which of up to [`SETS_PER_MASK`] code sets a code falls in, as the bits of a `u64` (set
/// `i` is bit `i`).
struct CodeIndex {
    /// The prefixes' distinct lengths in bytes, and each prefix with the sets it opens.
    lengths: Vec<usize>,
    prefixes: std::collections::HashMap<Box<[u8]>, u64, foldhash::fast::FixedState>,
    exact: std::collections::HashMap<Box<[u8]>, u64, foldhash::fast::FixedState>,
}

impl CodeIndex {
    fn new(sets: &[ir::CodeSet]) -> CodeIndex {
        assert!(
            sets.len() <= SETS_PER_MASK,
            "one mask holds at most 64 sets"
        );
        let mut ix = CodeIndex {
            lengths: Vec::new(),
            prefixes: Default::default(),
            exact: Default::default(),
        };
        for (i, s) in sets.iter().enumerate() {
            for p in &s.prefixes {
                *ix.prefixes.entry(p.as_bytes().into()).or_default() |= 1 << i;
                ix.lengths.push(p.len());
            }
            for e in &s.exact {
                *ix.exact.entry(e.as_bytes().into()).or_default() |= 1 << i;
            }
        }
        ix.lengths.sort_unstable();
        ix.lengths.dedup();
        ix
    }

    /// The sets `code` falls in: one it starts with a prefix of, or equals an exact code of
    /// (the byte-wise tests of [`codeset_match`]).
    fn mask(&self, code: &str) -> u64 {
        let b = code.as_bytes();
        let mut m = self.exact.get(b).copied().unwrap_or(0);
        for &n in &self.lengths {
            if n > b.len() {
                break;
            }
            m |= self.prefixes.get(&b[..n]).copied().unwrap_or(0);
        }
        m
    }
}

/// The name of the `k`-th mask column of a code-set feature (its sets from
/// `k * SETS_PER_MASK` on).
fn codeset_mask_column(feature: &str, k: usize) -> String {
    format!("__codes_{feature}_{k}")
}

/// A code-set feature's mask columns ([`CodeIndex`], null where the code is null): one
/// lookup per prefix length a row, where one `starts_with` per prefix and set (24 under
/// policy-v1, each evaluated for the set's flag and again for the count) cost ~4 CPU-seconds
/// over the 17.4 M coded diagnoses of a 1 M-person extract.
fn codeset_masks(feature: &str, column: &Expr, sets: &[ir::CodeSet]) -> Vec<Expr> {
    sets.chunks(SETS_PER_MASK)
        .enumerate()
        .map(|(k, chunk)| {
            let ix = std::sync::Arc::new(CodeIndex::new(chunk));
            column
                .clone()
                .map(
                    move |c: Column| {
                        let out: UInt64Chunked = c
                            .str()?
                            .apply_nonnull_values_generic(DataType::UInt64, |s: &str| ix.mask(s));
                        Ok(out.with_name(c.name().clone()).into_column())
                    },
                    |_, f| Ok(Field::new(f.name().clone(), DataType::UInt64)),
                )
                .alias(codeset_mask_column(feature, k))
        })
        .collect()
}

/// Whether the `i`-th set of a code-set feature holds on a row (null where the code is null),
/// from its mask columns ([`codeset_masks`]).
fn codeset_flag(feature: &str, i: usize) -> Expr {
    let bit = (i % SETS_PER_MASK) as u32;
    col(codeset_mask_column(feature, i / SETS_PER_MASK)).map(
        move |c: Column| {
            let out: BooleanChunked = c
                .u64()?
                .apply_nonnull_values_generic(DataType::Boolean, |v: u64| (v >> bit) & 1 == 1);
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Boolean)),
    )
}

fn codeset_match(column: &Expr, set: &ir::CodeSet) -> Expr {
    let mut m = starts_with_any(column.clone(), &set.prefixes);
    if !set.exact.is_empty() {
        let exact: Vec<Value> = set.exact.iter().map(|c| Value::Str(c.clone())).collect();
        m = m.or(column.clone().is_in(list(&exact), false));
    }
    m
}

/// A condition that is null (a comparison with a missing value) counts as false.
fn cond(e: &ir::Expr) -> Expr {
    expr(e).fill_null(lit(false))
}

/// The rows of `table` the features may see: dated up to R (diagnoses with their claim's
/// date and person). Each side of the diagnoses–claims join is first cut by what the features
/// imply about its own columns (see [`implied_cheap`]).
fn table_rows(
    ex: &Extract,
    table: &str,
    as_of: chrono::NaiveDate,
    features: &[&Feature],
) -> LazyFrame {
    table_rows_in(ex, table, as_of, features, JoinPass::WHOLE)
}

/// One pass of the diagnoses–claims join: the claims whose id's hash is `index` modulo `of`,
/// and their diagnoses (see [`join_passes`]).
#[derive(Debug, Clone, Copy)]
struct JoinPass {
    index: u64,
    of: u64,
}

impl JoinPass {
    const WHOLE: JoinPass = JoinPass { index: 0, of: 1 };

    /// Keeps the rows whose claim id's hash (`column`) falls in this pass.
    fn keep(self, lf: LazyFrame, column: &str) -> LazyFrame {
        if self.of == 1 {
            return lf;
        }
        lf.filter((col(column) % lit(self.of)).eq(lit(self.index)))
    }
}

/// The diagnoses one pass of the diagnoses–claims join reads at most, by default (the rows
/// of the table, before the features' filters): the pass's hash table holds the diagnoses the
/// features' code filters keep, about a quarter of them under policy-v1. Measured on the
/// synthetic extracts: 62.6 M diagnoses (1 M persons) in one pass, 8.2 s and +1.5 GB; 188 M
/// (3 M persons) in one pass 33.4 s and +4.2 GB, half of them 18.5 s and +2.0 GB.
pub const JOIN_ROWS_PER_PASS: u64 = 80_000_000;

/// How many passes the join of `table`'s rows to their claims takes with at most
/// `rows_per_pass` of its rows a pass: one unless the table takes its claims' dates (the
/// diagnoses) and validation found the claims' key hashes distinct (the passes split the
/// claims by them). Counted on the rows as read (before any is set aside: no scan needed).
fn join_passes(ex: &Extract, table: &str, rows_per_pass: Option<u64>) -> PolarsResult<u64> {
    let Some(per_pass) = rows_per_pass else {
        return Ok(1);
    };
    if !takes_claim_dates(table) || !ex.table("claims").key_hashes_distinct() {
        return Ok(1);
    }
    let rows = crate::extract::count_rows_as_read(ex.table(table))
        .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
    Ok(rows.div_ceil(per_pass.max(1)).max(1))
}

/// Whether `table`'s rows take their date and person from their claim (the diagnoses, see
/// [`contract::Table::takes_claim_date`]): the features see them joined to the claims.
fn takes_claim_dates(table: &str) -> bool {
    contract::table(table).is_some_and(|t| t.takes_claim_date())
}

fn table_rows_in(
    ex: &Extract,
    table: &str,
    as_of: chrono::NaiveDate,
    features: &[&Feature],
    pass: JoinPass,
) -> LazyFrame {
    let spec = contract::table(table).expect("features read contract tables");
    let mut lf = match ex.table(table).kept_rows() {
        Some(k) if covered(&k.covers, features) => k.rows.clone().lazy(),
        _ => ex.lazy(table),
    };
    if takes_claim_dates(table) {
        // A diagnosis takes its claim's date (and its claim's person). The hash table is
        // built on the diagnoses, after the features' code filters have cut them (a fraction
        // of all rows), and the claims stream past it; built on the claims side, the 79 M
        // claim ids of a 1 M-person extract held 8.5 GB.
        if let Some(p) = side_prefilter(features, &own_columns(spec)) {
            lf = lf.filter(p);
        }
        let mut claims = ex.lazy("claims");
        if let Some(p) = claims_prefilter(features) {
            claims = claims.filter(p);
        }
        lf = lf.drop(cols(["person_id"]));
        if ex.table("claims").key_hashes_distinct() {
            // On the claim ids' 64-bit hashes when validation found them distinct among the
            // claims kept (and set aside every diagnosis whose claim id is not one of them):
            // the same rows, with half the memory (the hash table held 2.9 GB at 1 M persons
            // on the text ids, 1.55 GB on their hashes), in the same time.
            lf = joined_by_hash(
                pass.keep(with_claim_hash(lf), CLAIM_HASH),
                pass.keep(claims_by_hash(claims), CLAIM_HASH),
            );
        } else {
            let claims = claims.select([col("claim_id"), col("person_id"), col("start_date")]);
            lf = lf.join(claims, [col("claim_id")], [col("claim_id")], dates_join());
        }
    }
    dated(lf, spec, as_of)
}

/// Whether every one of `features` has a cheap predicate among `covers`: every row any of
/// them may count is then among the rows kept for them ([`rows_wanted`]).
fn covered(covers: &[Expr], features: &[&Feature]) -> bool {
    features
        .iter()
        .all(|f| prefilter(f, None).is_some_and(|p| covers.contains(&p)))
}

/// The rows a screening with `rs` asks validation to keep in memory while it reads each
/// table ([`crate::validate::validate_keeping`]): for a table whose features each imply a
/// cheap predicate ([`prefilter`]), the rows passing any of them, with the columns the
/// features read, the person and the event date. Every pipeline of those features reads no
/// other row (each filters by its feature's predicate, or the group-by by all of them), so
/// from these rows they compute what they would from a scan of the table — a scan the run
/// then spares (at 1 M persons the claims' two pipelines scanned 78.7 M claims for 468,818
/// rows). The diagnoses are left out: they take their claims' dates by a join.
///
/// A distinct count is taken in the pass itself instead ([`distinct_wanted`]): its rows are
/// often too many to keep (the 15.2 M prescriptions of the last 90 days at 1 M persons), their
/// distinct (person, value) pairs are not.
pub fn rows_wanted(rs: &RuleSet) -> Vec<crate::extract::RowsWanted> {
    let mut out = Vec::new();
    for spec in contract::TABLES {
        if takes_claim_dates(spec.name) {
            continue;
        }
        let (distinct, feats): (Vec<&Feature>, Vec<&Feature>) = rs
            .features
            .iter()
            .filter(|f| f.table == spec.name)
            .partition(|f| matches!(f.agg, Agg::CountDistinct(_)));
        let distinct: Vec<crate::extract::DistinctWanted> = distinct
            .iter()
            .filter_map(|f| distinct_wanted(f, rs.as_of))
            .collect();
        let covers = if feats.is_empty() {
            None
        } else {
            feats
                .iter()
                .map(|f| prefilter(f, None))
                .collect::<Option<Vec<Expr>>>()
        };
        let mut columns: Vec<String> = Vec::new();
        if covers.is_some() {
            columns.push("person_id".to_string());
            columns.extend(spec.event_date.map(str::to_string));
            for f in &feats {
                columns.extend(f.columns.iter().cloned());
            }
            let mut seen = std::collections::HashSet::new();
            columns.retain(|c| seen.insert(c.clone()));
        }
        if covers.is_none() && distinct.is_empty() {
            continue;
        }
        out.push(crate::extract::RowsWanted {
            table: spec.name,
            covers: covers.unwrap_or_default(),
            columns,
            distinct,
        });
    }
    out
}

/// What a distinct-count feature asks of its table's validation pass: the distinct values
/// over the rows dated up to R where its filter holds (see
/// [`crate::validate::distinct`]); `None` for another aggregation, or a table whose rows take
/// their claim's date.
pub fn distinct_wanted(
    f: &Feature,
    as_of: chrono::NaiveDate,
) -> Option<crate::extract::DistinctWanted> {
    let Agg::CountDistinct(value) = &f.agg else {
        return None;
    };
    if takes_claim_dates(&f.table) {
        return None;
    }
    let spec = contract::table(&f.table)?;
    let keep = [dated_by(spec, as_of), f.filter.as_ref().map(cond)]
        .into_iter()
        .flatten()
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true));
    Some(crate::extract::DistinctWanted {
        keep,
        value: expr(value),
    })
}

/// The column of a claim id's 64-bit hash (see [`keys::hashed`]) on both sides of the
/// diagnoses–claims join.
const CLAIM_HASH: &str = "__claim_hash";

/// `rows` with their claim id's hash.
fn with_claim_hash(rows: LazyFrame) -> LazyFrame {
    rows.with_column(keys::hashed(col("claim_id")).alias(CLAIM_HASH))
}

/// What a row taking its claim's date reads of the claim: the person and the date, by the
/// claim id's hash.
fn claims_by_hash(claims: LazyFrame) -> LazyFrame {
    claims.select([
        keys::hashed(col("claim_id")).alias(CLAIM_HASH),
        col("person_id"),
        col("start_date"),
    ])
}

/// The join of rows to their claims: inner, its hash table built on the rows (after the
/// features' code filters have cut them), the claims streaming past.
fn dates_join() -> JoinArgs {
    JoinArgs::new(JoinType::Inner).with_build_side(Some(JoinBuildSide::ForceLeft))
}

/// `rows` ([`with_claim_hash`]) joined to `claims` ([`claims_by_hash`]), the hash dropped.
fn joined_by_hash(rows: LazyFrame, claims: LazyFrame) -> LazyFrame {
    rows.join(claims, [col(CLAIM_HASH)], [col(CLAIM_HASH)], dates_join())
        .drop(cols([CLAIM_HASH]))
}

/// The features' cheap predicate on a claim's columns that the rows joined to it read (see
/// [`side_prefilter`]).
fn claims_prefilter(features: &[&Feature]) -> Option<Expr> {
    side_prefilter(features, &["person_id", "start_date"])
}

/// The columns of a table that takes its claims' dates that are its own: all but the person
/// (which the claim gives).
fn own_columns(spec: &contract::Table) -> Vec<&'static str> {
    spec.columns
        .iter()
        .map(|c| c.name)
        .filter(|c| *c != "person_id")
        .collect()
}

/// The rows dated up to R (by the table's event date, if it has one).
fn dated(lf: LazyFrame, spec: &contract::Table, as_of: chrono::NaiveDate) -> LazyFrame {
    match dated_by(spec, as_of) {
        Some(p) => lf.filter(p),
        None => lf,
    }
}

/// The predicate [`dated`] filters by: the event date up to R.
fn dated_by(spec: &contract::Table, as_of: chrono::NaiveDate) -> Option<Expr> {
    spec.event_date.map(|d| col(d).lt_eq(date_lit(as_of)))
}

/// The OR of the features' cheap predicates on `columns` alone; `None` unless every feature
/// has one.
fn side_prefilter(features: &[&Feature], columns: &[&str]) -> Option<Expr> {
    let v: Option<Vec<Expr>> = features
        .iter()
        .map(|f| prefilter(f, Some(columns)))
        .collect();
    v?.into_iter().reduce(|a, b| a.or(b))
}

/// The rows of a feature's table that matter to it.
fn relevant(f: &Feature) -> Option<Expr> {
    let filter = f.filter.as_ref().map(cond);
    let codes = match &f.agg {
        Agg::CodeSets { column, sets } => {
            let c = expr(column);
            sets.iter()
                .map(|s| codeset_match(&c, s))
                .reduce(|a, b| a.or(b))
        }
        _ => None,
    };
    match (filter, codes) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    }
}

/// A cheap predicate that holds wherever `e` holds (a weakening of it), built only from
/// comparisons of a column with a constant or another column, null tests, list membership
/// and prefix tests, joined by `and`/`or`; `None` when there is none. A scan filters by it
/// first: Polars evaluates a scan's whole predicate on every row (it does not short-circuit
/// `and`), so arithmetic such as `days_between(start_date, end_date)` over all 79 M claims
/// of a 1 M-person extract cost more than the rest of the scan; by the cheap part alone
/// fewer than 1 % remain, and the aggregations apply each feature's full filter to those.
fn implied_cheap(e: &ir::Expr, on: Option<&[&str]>) -> Option<Expr> {
    use ir::Expr as E;
    let operand = |x: &ir::Expr| matches!(x, E::Col(_)) || x.columns().is_empty();
    let readable = e
        .columns()
        .iter()
        .all(|c| on.is_none_or(|cols| cols.contains(&c.as_str())));
    match e {
        E::And(a, b) => match (implied_cheap(a, on), implied_cheap(b, on)) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        },
        E::Or(a, b) => Some(implied_cheap(a, on)?.or(implied_cheap(b, on)?)),
        _ if !readable => None,
        E::Cmp(_, a, b)
            if operand(a) && operand(b) && !(a.columns().is_empty() && b.columns().is_empty()) =>
        {
            Some(expr(e))
        }
        E::IsNull(x, _) | E::StartsWithAny(x, _) | E::In(x, _, _) if matches!(**x, E::Col(_)) => {
            // `is_in` of a literal list, not one comparison per value: 0.13 s instead of
            // 0.8 s for five provider kinds over 79 M claims.
            Some(expr(e))
        }
        _ => None,
    }
}

/// A cheap predicate implied by [`relevant`] (on the columns `on` alone, when given): `None`
/// when the feature gives none.
fn prefilter(f: &Feature, on: Option<&[&str]>) -> Option<Expr> {
    let filter = f.filter.as_ref().and_then(|e| implied_cheap(e, on));
    let codes = match &f.agg {
        Agg::CodeSets {
            column: column @ ir::Expr::Col(c),
            sets,
        } if on.is_none_or(|cols| cols.contains(&c.as_str())) => {
            Some(any_codeset_match(&expr(column), sets))
        }
        _ => None,
    };
    match (filter, codes) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    }
}

/// The aggregation expressions of one feature (a code-set feature yields its count and one
/// flag per set, from the mask columns [`per_person`] adds before them).
fn aggregations(f: &Feature) -> Vec<Expr> {
    let keep = f.filter.as_ref().map(cond).unwrap_or(lit(true));
    let name = f.name.as_str();
    match &f.agg {
        Agg::Count => vec![keep.cast(DataType::Int64).sum().alias(name)],
        Agg::Any => vec![keep.any(true).alias(name)],
        Agg::Min(e) => vec![expr(e).filter(keep).min().alias(name)],
        Agg::Max(e) => vec![expr(e).filter(keep).max().alias(name)],
        Agg::Sum(e) => vec![expr(e).filter(keep).sum().alias(name)],
        Agg::CountDistinct(_) | Agg::Latest { .. } => {
            unreachable!(
                "feature_frame gives distinct counts and latest values their own pipelines"
            )
        }
        Agg::CodeSets { sets, .. } => {
            // The sets' flags come from the mask columns `per_person` adds.
            let held = |i: usize| keep.clone().and(codeset_flag(name, i)).any(true);
            let mut out: Vec<Expr> = sets
                .iter()
                .enumerate()
                .map(|(i, s)| held(i).alias(codeset_column(name, &s.id)))
                .collect();
            out.push(count_true((0..sets.len()).map(held)).alias(name));
            out
        }
    }
}

/// How many of `flags` (boolean aggregations) hold, as an Int64: a code-set feature's count.
fn count_true(flags: impl Iterator<Item = Expr>) -> Expr {
    flags
        .map(|f| f.cast(DataType::Int64))
        .reduce(|a, b| a + b)
        .unwrap_or(lit(0i64))
}

/// The default fill of each output column of a feature for people without rows.
fn fills(f: &Feature) -> Vec<Expr> {
    let name = f.name.as_str();
    match &f.agg {
        Agg::Count | Agg::CountDistinct(_) => vec![col(name).fill_null(lit(0i64))],
        Agg::Any => vec![col(name).fill_null(lit(false))],
        Agg::CodeSets { sets, .. } => {
            let mut v: Vec<Expr> = sets
                .iter()
                .map(|s| col(codeset_column(name, &s.id)).fill_null(lit(false)))
                .collect();
            v.push(col(name).fill_null(lit(0i64)));
            v
        }
        _ => vec![],
    }
}

fn reason_text(parts: &[ReasonPart]) -> Expr {
    let pieces: Vec<Expr> = parts
        .iter()
        .map(|p| match p {
            ReasonPart::Text(t) => lit(t.as_str()),
            ReasonPart::Value(e) => expr(e).fill_null(lit("?")),
        })
        .collect();
    concat_str(pieces, "", false)
}

fn term_points(t: &ir::ScoreTerm) -> Expr {
    match &t.rule {
        ScoreRule::Points { when: w, points } => {
            when(cond(w)).then(expr(points)).otherwise(lit(0i64))
        }
        ScoreRule::Bands { bands, only_if } => {
            // The first band that holds wins: nest from the last band outwards.
            let banded = bands.iter().rev().fold(lit(0i64), |acc, (c, p)| {
                when(cond(c)).then(expr(p)).otherwise(acc)
            });
            match only_if {
                Some(c) => when(cond(c)).then(banded).otherwise(lit(0i64)),
                None => banded,
            }
        }
        ScoreRule::PerCodeSet { feature, sets } => sets
            .iter()
            .map(|s| {
                when(col(codeset_column(feature, &s.id)))
                    .then(lit(s.points))
                    .otherwise(lit(0i64))
            })
            .reduce(|a, b| a + b)
            .unwrap_or(lit(0i64)),
    }
    .cast(DataType::Int64)
}

fn term_reason(t: &ir::ScoreTerm) -> Expr {
    let pts = score_col(&t.id);
    let head = concat_str(
        [
            lit(t.label.as_str()),
            lit(" +"),
            col(pts.as_str()).cast(DataType::String),
        ],
        "",
        false,
    );
    let detail = match (&t.reason, &t.rule) {
        (Some(parts), _) => Some(reason_text(parts)),
        (None, ScoreRule::PerCodeSet { feature, sets }) => Some(concat_str(
            sets.iter()
                .map(|s| {
                    when(col(codeset_column(feature, &s.id)))
                        .then(lit(s.label.as_str()))
                        .otherwise(lit(NULL).cast(DataType::String))
                })
                .collect::<Vec<_>>(),
            ", ",
            true,
        )),
        _ => None,
    };
    let text = match detail {
        Some(d) => concat_str([head, lit(" ("), d, lit(")")], "", false),
        None => head,
    };
    when(col(pts.as_str()).gt(lit(0i64)))
        .then(text)
        .otherwise(lit(NULL).cast(DataType::String))
}

fn cohort_reason(c: &Condition) -> Expr {
    let text = match &c.reason {
        Some(parts) => concat_str(
            [lit(c.label.as_str()), lit(": "), reason_text(parts)],
            "",
            false,
        ),
        None => lit(c.label.as_str()),
    };
    when(col(cohort_col(&c.id)))
        .then(text)
        .otherwise(lit(NULL).cast(DataType::String))
}

/// The person frame of a rule set over an extract: one row per person.
pub fn person_frame(ex: &Extract, rs: &RuleSet) -> PolarsResult<LazyFrame> {
    person_frame_with(ex, rs, None)
}

/// [`person_frame`] for a whole run: the diagnoses–claims join in passes of at most
/// `rows_per_pass` diagnoses each (see [`JOIN_ROWS_PER_PASS`]), each pass run (streaming)
/// before the plan's other pipelines, so the join's memory does not grow with the extract.
/// [`person_frame`] keeps one lazy plan: a filter on one person (an explanation) is pushed into
/// its scans.
pub fn person_frame_with(
    ex: &Extract,
    rs: &RuleSet,
    rows_per_pass: Option<u64>,
) -> PolarsResult<LazyFrame> {
    let feats: Vec<&Feature> = rs.features.iter().collect();
    Ok(finish(
        feature_frame(ex, &feats, rs.as_of, rows_per_pass)?,
        rs,
    ))
}

/// The persons table with `age` at R and the columns of every feature: one scan and one
/// group-by per event table, for all the features that read it (the diagnoses in more than
/// one pass with `rows_per_pass`, see [`person_frame_with`]).
pub fn feature_frame(
    ex: &Extract,
    features: &[&Feature],
    as_of: chrono::NaiveDate,
    rows_per_pass: Option<u64>,
) -> PolarsResult<LazyFrame> {
    let year = as_of.year() as i64;
    let mut lf = ex
        .lazy("persons")
        .with_column((lit(year) - col("birth_year").cast(DataType::Int64)).alias("age"));

    let mut tables: Vec<&str> = features.iter().map(|f| f.table.as_str()).collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables {
        let feats: Vec<&Feature> = features
            .iter()
            .copied()
            .filter(|f| f.table == table)
            .collect();
        // A distinct count gets its own pipeline: the distinct (person, value) pairs first,
        // then a count per person. `n_unique` inside the shared group-by keeps every
        // person's set of values in the hash table (1.8 GB for the ingredients of 1 M
        // persons).
        let (distinct, shared): (Vec<&Feature>, Vec<&Feature>) = feats
            .iter()
            .partition(|f| matches!(f.agg, Agg::CountDistinct(_)));
        for f in distinct {
            let Agg::CountDistinct(value) = &f.agg else {
                unreachable!()
            };
            // Taken by validation's pass when it could, as counts per person hash: joined to
            // the persons by their id's hash, a join on the id when the persons' kept hashes
            // are distinct.
            let taken = distinct_wanted(f, as_of)
                .and_then(|w| ex.table(table).kept_distinct(&w).cloned())
                .filter(|_| ex.table("persons").key_hashes_distinct());
            let per_person = match taken {
                Some(counts) => {
                    use crate::validate::distinct::{COUNT, PERSON_HASH};
                    ex.lazy("persons")
                        .select([
                            col("person_id"),
                            keys::hashed(col("person_id")).alias(PERSON_HASH),
                        ])
                        .join(
                            counts.lazy(),
                            [col(PERSON_HASH)],
                            [col(PERSON_HASH)],
                            JoinArgs::new(JoinType::Inner),
                        )
                        .select([col("person_id"), col(COUNT).alias(f.name.as_str())])
                }
                None => {
                    let mut rows = table_rows(ex, table, as_of, &[f]);
                    if let Some(keep) = f.filter.as_ref().map(cond) {
                        rows = rows.filter(keep);
                    }
                    rows.select([col("person_id"), expr(value).alias("__value")])
                        .drop_nulls(None)
                        .unique(None, UniqueKeepStrategy::Any)
                        .group_by([col("person_id")])
                        .agg([len().cast(DataType::Int64).alias(f.name.as_str())])
                }
            };
            lf = lf.join(
                per_person,
                [col("person_id")],
                [col("person_id")],
                JoinArgs::new(JoinType::Left),
            );
        }
        // The latest-value features get one pipeline per (filter, order): their rows are
        // sorted with the counted ones last, then the last row per person is taken. Polars
        // 0.55 runs an `ir::Agg::Latest` written as `sort_by` inside the group-by on its
        // in-memory engine, which decoded every projected claim column (1.3 GB at 1 M
        // persons); a sort and `last()` both stream.
        let (latest, shared): (Vec<&Feature>, Vec<&Feature>) = shared
            .iter()
            .partition(|f| matches!(f.agg, Agg::Latest { .. }));
        let mut groups: Vec<Vec<&Feature>> = Vec::new();
        for f in latest {
            let order = |g: &Feature| match &g.agg {
                Agg::Latest { order_by, .. } => Some(order_by.clone()),
                _ => None,
            };
            match groups
                .iter_mut()
                .find(|g| g[0].filter == f.filter && order(g[0]) == order(f))
            {
                Some(g) => g.push(f),
                None => groups.push(vec![f]),
            }
        }
        for g in groups {
            lf = lf.join(
                latest_per_person(ex, table, as_of, &g),
                [col("person_id")],
                [col("person_id")],
                JoinArgs::new(JoinType::Left),
            );
        }
        if !shared.is_empty() {
            let by_parts = match rows_per_pass {
                Some(_) if takes_claim_dates(table) => {
                    shared_per_person_by_parts(ex, table, as_of, &shared, ELSEWHERE_MAX_ROWS)?
                }
                _ => None,
            };
            let per_person = match by_parts {
                Some(parts) => combine_per_person(parts.values, &shared)?,
                None => match join_passes(ex, table, rows_per_pass)? {
                    1 => shared_per_person(ex, table, as_of, &shared, JoinPass::WHOLE),
                    passes => {
                        // Each pass's values per person, computed one pass at a time, then
                        // combined: a person's claims fall in several passes.
                        let mut parts = Vec::new();
                        for index in 0..passes {
                            let pass = JoinPass { index, of: passes };
                            parts.push(
                                shared_per_person(ex, table, as_of, &shared, pass)
                                    .collect_with_engine(Engine::Streaming)?
                                    .unwrap_single()
                                    .lazy(),
                            );
                        }
                        combine_per_person(parts, &shared)?
                    }
                },
            };
            lf = lf.join(
                per_person,
                [col("person_id")],
                [col("person_id")],
                JoinArgs::new(JoinType::Left),
            );
        }
        let fill: Vec<Expr> = feats.iter().flat_map(|f| fills(f)).collect();
        if !fill.is_empty() {
            lf = lf.with_columns(fill);
        }
    }
    Ok(lf)
}

/// The shared group-by of `table`'s features over one join pass's rows: one row per person
/// with a row some feature may count.
fn shared_per_person(
    ex: &Extract,
    table: &str,
    as_of: chrono::NaiveDate,
    shared: &[&Feature],
    pass: JoinPass,
) -> LazyFrame {
    per_person(table_rows_in(ex, table, as_of, shared, pass), shared)
}

/// The shared group-by of `shared` over `rows` (dated up to R).
fn per_person(mut rows: LazyFrame, shared: &[&Feature]) -> LazyFrame {
    // Only rows some feature may count reach the group-by: by a cheap predicate when every
    // feature implies one (each aggregation applies its own filter), by the features' filters
    // themselves otherwise.
    let cheap: Option<Vec<Expr>> = shared.iter().map(|f| prefilter(f, None)).collect();
    let rel: Option<Vec<Expr>> = shared.iter().map(|f| relevant(f)).collect();
    if let Some(r) = cheap
        .or(rel)
        .and_then(|v| v.into_iter().reduce(|a, b| a.or(b)))
    {
        rows = rows.filter(r);
    }
    // Each code-set feature's masks, once a row for all its sets.
    let masks: Vec<Expr> = shared
        .iter()
        .flat_map(|f| match &f.agg {
            Agg::CodeSets { column, sets } => codeset_masks(&f.name, &expr(column), sets),
            _ => Vec::new(),
        })
        .collect();
    if !masks.is_empty() {
        rows = rows.with_columns(masks);
    }
    let aggs: Vec<Expr> = shared.iter().flat_map(|f| aggregations(f)).collect();
    rows.group_by([col("person_id")]).agg(aggs)
}

/// The values per person of `shared` from their values per person over disjoint sets of
/// rows (join passes, or parts): see [`combined`].
fn combine_per_person(parts: Vec<LazyFrame>, shared: &[&Feature]) -> PolarsResult<LazyFrame> {
    let combine: Vec<Expr> = shared.iter().flat_map(|f| combined(f)).collect();
    Ok(concat(parts, UnionArgs::default())?
        .group_by([col("person_id")])
        .agg(combine)
        .collect()?
        .lazy())
}

/// The most rows of the diagnoses (those the code filter keeps) a run joins part by part holds
/// because their claim is in another part ([`shared_per_person_by_parts`]): ~0.4 GB. Past it
/// the run uses one join (in passes), whose memory does not grow with the extract.
pub const ELSEWHERE_MAX_ROWS: u64 = 8_000_000;

/// The shared group-by of a table that takes its claims' dates, computed part by part (see
/// [`shared_per_person_by_parts`]).
pub struct ByParts {
    /// The features' values per person over each part's rows (and over the rows joined
    /// elsewhere, last): disjoint sets of rows, to combine.
    pub values: Vec<LazyFrame>,
    /// How many parts each table has.
    pub parts: usize,
    /// Rows (those the features' filters on the table's own columns keep) whose claim was in
    /// the claims' part of the same number.
    pub rows_in_their_part: u64,
    /// Rows whose claim was not, joined afterwards to all the claims (including rows whose
    /// claim is in no part: they join to nothing, as in one join).
    pub rows_elsewhere: u64,
}

/// The shared group-by of a table that takes its claims' dates (the diagnoses), part by part,
/// when it and the claims come in as many Parquet parts: part k of the table is joined to part
/// k of the claims, in memory, then grouped per person; parts run in parallel, as many at a
/// time as polars has threads. The hash table holds one part's coded diagnoses (~170 k rows at
/// 1 M persons, in the CPU's cache), where one join of the whole tables builds it on all 17 M
/// and probes it from main memory: the diagnoses' features at 1 M persons took 8.6 s in one
/// streaming join, 5.0 s by parts, and the run's peak memory fell 1.87 → 1.25 GB (of the join's
/// inputs only two parts' rows are held at a time, whatever the size of the extract).
///
/// An extract written claim by claim, each claim's diagnoses alongside (as `balgul synth`
/// writes them), has every diagnosis in the claims' part of the same number. The rows whose
/// claim is not there come out of their part's join without one and are joined afterwards to
/// all the claims: the rows joined are exactly those of one join whatever the layout (the
/// claims' key hashes are distinct, so a row has one claim at most). `None` (one join is used)
/// unless both tables are in the same number (≥ 2) of parts, the first part finds the claims
/// of at least half its rows, and the rows joined elsewhere, held until the parts are done, stay
/// within `elsewhere_max_rows` (past it the parts still to run are skipped).
pub fn shared_per_person_by_parts(
    ex: &Extract,
    table: &str,
    as_of: chrono::NaiveDate,
    shared: &[&Feature],
    elsewhere_max_rows: u64,
) -> PolarsResult<Option<ByParts>> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    let claims_t = ex.table("claims");
    let rows_t = ex.table(table);
    let (Some(n), Some(m)) = (claims_t.part_count(), rows_t.part_count()) else {
        return Ok(None);
    };
    if n != m || n < 2 || !claims_t.key_hashes_distinct() {
        return Ok(None);
    }
    let spec = contract::table(table).expect("features read contract tables");
    let own_filter = side_prefilter(shared, &own_columns(spec));
    let claims_filter = claims_prefilter(shared).unwrap_or(lit(true));
    let h = CLAIM_HASH;
    let open = |t: &crate::extract::LoadedTable, k: usize| -> PolarsResult<LazyFrame> {
        t.part_lazy(k)
            .expect("part_count() is Some")
            .map_err(|e| PolarsError::ComputeError(e.to_string().into()))
    };
    // One part: its values per person, and its rows whose claim is not in the claims' part
    // (with how many rows it had).
    let part = |k: usize| -> PolarsResult<(DataFrame, DataFrame, usize)> {
        let mut rows = open(rows_t, k)?;
        if let Some(p) = &own_filter {
            rows = rows.filter(p.clone());
        }
        let rows = with_claim_hash(rows.drop(cols(["person_id"]))).collect()?;
        // Every claim of the part, not only those the features' filters keep: a row whose
        // claim is here but filtered out is dropped, not joined again elsewhere.
        let claims = claims_by_hash(open(claims_t, k)?).collect()?;
        let at = claim_positions(rows.column(h)?.u64()?, claims.column(h)?.u64()?);
        let found = at.is_not_null();
        let elsewhere = rows.filter(&!&found)?;
        let mut here = rows.filter(&found)?;
        let taken = claims
            .select(["person_id", "start_date"])?
            .take(&at.filter(&found)?)?;
        here.hstack_mut(taken.columns())?;
        let here = here.lazy().filter(claims_filter.clone()).drop(cols([h]));
        let values = per_person(dated(here, spec, as_of), shared).collect()?;
        Ok((values, elsewhere, rows.height()))
    };
    let first = part(0)?;
    if first.1.height() * 2 > first.2 || first.1.height() as u64 > elsewhere_max_rows {
        return Ok(None);
    }
    let held = AtomicU64::new(first.1.height() as u64);
    let within = |k: usize| -> PolarsResult<Option<(DataFrame, DataFrame, usize)>> {
        if held.load(Ordering::Relaxed) > elsewhere_max_rows {
            return Ok(None);
        }
        let p = part(k)?;
        let now = held.fetch_add(p.1.height() as u64, Ordering::Relaxed) + p.1.height() as u64;
        Ok((now <= elsewhere_max_rows).then_some(p))
    };
    // On polars' own pool: the parts' polars work runs on the same two threads (from another
    // pool each part waited on polars' pool: 6.7 s instead of 5.0).
    let rest: Option<Vec<(DataFrame, DataFrame, usize)>> = polars_core::runtime::THREAD_POOL
        .install(|| {
            (1..n)
                .into_par_iter()
                .map(within)
                .collect::<PolarsResult<_>>()
        })?;
    let Some(rest) = rest else {
        return Ok(None);
    };
    let mut out = ByParts {
        values: Vec::with_capacity(n + 1),
        parts: n,
        rows_in_their_part: 0,
        rows_elsewhere: 0,
    };
    let mut elsewhere: Option<DataFrame> = None;
    for (v, e, rows) in std::iter::once(first).chain(rest) {
        out.values.push(v.lazy());
        out.rows_in_their_part += (rows - e.height()) as u64;
        out.rows_elsewhere += e.height() as u64;
        if e.height() > 0 {
            match elsewhere.as_mut() {
                Some(all) => {
                    all.vstack_mut(&e)?;
                }
                None => elsewhere = Some(e),
            }
        }
    }
    if let Some(rows) = elsewhere {
        let claims = claims_by_hash(ex.lazy("claims").filter(claims_filter));
        let joined = joined_by_hash(rows.lazy(), claims);
        out.values.push(
            per_person(dated(joined, spec, as_of), shared)
                .collect_with_engine(Engine::Streaming)?
                .unwrap_single()
                .lazy(),
        );
    }
    Ok(Some(out))
}

/// For each of `rows` (claim id hashes), the position of its claim among `claims` (the hashes
/// of distinct claim ids), null where it has none there: a hash join whose table holds one
/// part's distinct diagnosis claims (see [`shared_per_person_by_parts`]). Runs of equal hashes
/// are not folded: the 17.4 M coded diagnoses of a 1 M-person extract are 16.9 M runs.
fn claim_positions(rows: &UInt64Chunked, claims: &UInt64Chunked) -> IdxCa {
    const ABSENT: IdxSize = IdxSize::MAX;
    let mut at: std::collections::HashMap<u64, IdxSize, foldhash::fast::FixedState> =
        std::collections::HashMap::with_capacity_and_hasher(
            rows.len(),
            foldhash::fast::FixedState::default(),
        );
    // Over the arrays' values (a null's slot holds some value: skipped by its validity bit),
    // not through `Option`s: the claims' loop runs over every claim of the part.
    for arr in rows.downcast_iter() {
        let valid = |j: usize| arr.validity().is_none_or(|v| v.get_bit(j));
        for (j, &h) in arr.values().iter().enumerate() {
            if valid(j) {
                at.insert(h, ABSENT);
            }
        }
    }
    let mut first: usize = 0;
    for arr in claims.downcast_iter() {
        let valid = |j: usize| arr.validity().is_none_or(|v| v.get_bit(j));
        for (j, h) in arr.values().iter().enumerate() {
            if let Some(p) = at.get_mut(h)
                && valid(j)
            {
                *p = (first + j) as IdxSize;
            }
        }
        first += arr.len();
    }
    rows.iter()
        .map(|h| h.and_then(|h| at.get(&h).copied().filter(|p| *p != ABSENT)))
        .collect()
}

/// A feature's values per person from its values per person in each pass ([`aggregations`]
/// of disjoint sets of rows): counts and sums add up, flags are ORed, extremes taken again; a
/// code-set count is recounted from the combined flags.
fn combined(f: &Feature) -> Vec<Expr> {
    let name = f.name.as_str();
    match &f.agg {
        Agg::Count | Agg::Sum(_) => vec![col(name).sum().alias(name)],
        Agg::Any => vec![col(name).any(true).alias(name)],
        Agg::Min(_) => vec![col(name).min().alias(name)],
        Agg::Max(_) => vec![col(name).max().alias(name)],
        Agg::CountDistinct(_) | Agg::Latest { .. } => {
            unreachable!(
                "feature_frame gives distinct counts and latest values their own pipelines"
            )
        }
        Agg::CodeSets { sets, .. } => {
            let flags: Vec<String> = sets.iter().map(|s| codeset_column(name, &s.id)).collect();
            let mut out: Vec<Expr> = flags
                .iter()
                .map(|c| col(c.as_str()).any(true).alias(c.as_str()))
                .collect();
            let count = count_true(flags.iter().map(|c| col(c.as_str()).any(true)));
            out.push(count.alias(name));
            out
        }
    }
}

/// The values of latest-value features sharing one filter and one order, per person: the
/// last row in that order among the rows the filter counts (a person without such a row
/// gets nulls). Rows are sorted by (counted, order keys…), stably, nulls first, so the last
/// row of a person is a counted one whenever there is any.
fn latest_per_person(
    ex: &Extract,
    table: &str,
    as_of: chrono::NaiveDate,
    group: &[&Feature],
) -> LazyFrame {
    let first = group[0];
    let Agg::Latest { order_by, .. } = &first.agg else {
        unreachable!("grouped by Agg::Latest")
    };
    let mut rows = table_rows(ex, table, as_of, group);
    if let Some(p) = prefilter(first, None).or_else(|| relevant(first)) {
        rows = rows.filter(p);
    }
    let keep = first.filter.as_ref().map(cond).unwrap_or(lit(true));
    let mut select = vec![col("person_id"), keep.alias("__keep")];
    let mut keys = vec!["__keep".to_string()];
    for (i, k) in order_by.iter().enumerate() {
        keys.push(format!("__order{i}"));
        select.push(expr(k).alias(format!("__order{i}")));
    }
    for f in group {
        let Agg::Latest { value, .. } = &f.agg else {
            unreachable!("grouped by Agg::Latest")
        };
        select.push(expr(value).alias(f.name.as_str()));
    }
    let opts = SortMultipleOptions::default()
        .with_order_descending_multi(vec![false; keys.len()])
        .with_nulls_last(false)
        .with_maintain_order(true);
    let mut last: Vec<Expr> = group.iter().map(|f| col(f.name.as_str()).last()).collect();
    last.push(col("__keep").last());
    let mut out = vec![col("person_id")];
    out.extend(group.iter().map(|f| {
        when(col("__keep"))
            .then(col(f.name.as_str()))
            .otherwise(lit(NULL))
            .alias(f.name.as_str())
    }));
    rows.select(select)
        .sort(keys, opts)
        .group_by([col("person_id")])
        .agg(last)
        .select(out)
}

/// The rows behind one person's value of a feature: the rows of its table dated up to R that
/// the feature counts (its filter holds and, for code sets, a code matches), with the
/// table's key, the event date and the columns the feature reads, oldest first.
pub fn feature_rows(
    ex: &Extract,
    f: &Feature,
    as_of: chrono::NaiveDate,
    person: &str,
) -> LazyFrame {
    let spec = contract::table(&f.table).expect("features read contract tables");
    let mut rows = table_rows(ex, &f.table, as_of, &[f]).filter(col("person_id").eq(lit(person)));
    if let Some(r) = relevant(f) {
        rows = rows.filter(r);
    }
    let mut cols: Vec<String> = spec.key.iter().map(|k| k.to_string()).collect();
    // (A diagnosis's event date is its claim's, joined in by `table_rows`.)
    if let Some(d) = spec.event_date
        && !cols.iter().any(|c| c == d)
    {
        cols.insert(0, d.to_string());
    }
    for c in &f.columns {
        if !cols.contains(c) {
            cols.push(c.clone());
        }
    }
    cols.retain(|c| c != "person_id");
    let mut lf = rows.select(cols.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
    if let Some(d) = spec.event_date {
        let mut keys = vec![d.to_string()];
        keys.extend(
            cols.iter()
                .filter(|k| spec.key.contains(&k.as_str()) && k.as_str() != d)
                .cloned(),
        );
        lf = lf.sort(
            keys,
            SortMultipleOptions::default().with_maintain_order(true),
        );
    }
    lf
}

/// The output columns of a feature in the person frame (a code-set feature has one flag per
/// set besides its count).
pub fn feature_columns(f: &Feature) -> Vec<String> {
    let mut v = vec![f.name.clone()];
    if let Agg::CodeSets { sets, .. } = &f.agg {
        v.extend(sets.iter().map(|s| codeset_column(&f.name, &s.id)));
    }
    v
}

/// Two rule sets' person frames from one scan of the extract: a feature both define alike is
/// computed once; one the candidate defines differently under the same name is computed
/// under a private name and renamed back in the candidate's frame. Both rule sets must be
/// compiled at the same R.
pub fn person_frames_pair(
    ex: &Extract,
    a: &RuleSet,
    b: &RuleSet,
) -> PolarsResult<(LazyFrame, LazyFrame)> {
    assert_eq!(a.as_of, b.as_of, "a pair of rule sets is compiled at one R");
    let alike = |x: &Feature, y: &Feature| {
        let mut y = y.clone();
        y.label = x.label.clone();
        *x == y
    };
    let mut all: Vec<Feature> = a.features.clone();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut b_hidden: Vec<String> = Vec::new();
    for f in &b.features {
        match a.features.iter().find(|x| x.name == f.name) {
            Some(x) if alike(x, f) => {}
            Some(x) => {
                let mut g = f.clone();
                g.name = format!("__candidate:{}", f.name);
                b_hidden.extend(feature_columns(x));
                for (from, to) in feature_columns(&g).into_iter().zip(feature_columns(f)) {
                    renames.push((from, to));
                }
                all.push(g);
            }
            None => all.push(f.clone()),
        }
    }
    let refs: Vec<&Feature> = all.iter().collect();
    let df = feature_frame(ex, &refs, a.as_of, Some(JOIN_ROWS_PER_PASS))?
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let lf_a = finish(df.clone().lazy(), a);
    let mut lf_b = df.lazy();
    if !renames.is_empty() {
        lf_b = lf_b.drop(by_name(b_hidden, true, false)).rename(
            renames.iter().map(|(f, _)| f.as_str()),
            renames.iter().map(|(_, t)| t.as_str()),
            true,
        );
    }
    Ok((lf_a, finish(lf_b, b)))
}

/// Derived values, conditions, flags and the score over a frame holding the rule set's
/// features.
pub fn finish(mut lf: LazyFrame, rs: &RuleSet) -> LazyFrame {
    for (name, e) in &rs.derived {
        lf = lf.with_column(expr(e).alias(name.as_str()));
    }
    let mut flags = Vec::new();
    for c in &rs.base {
        flags.push(cond(&c.when).alias(base_col(&c.id)));
    }
    for c in &rs.cohorts {
        flags.push(cond(&c.when).alias(cohort_col(&c.id)));
    }
    for c in &rs.suppress {
        flags.push(cond(&c.when).alias(suppress_col(&c.id)));
    }
    lf = lf.with_columns(flags);
    let all_base = rs
        .base
        .iter()
        .map(|c| col(base_col(&c.id)))
        .reduce(|a, b| a.and(b))
        .unwrap_or(lit(true));
    let any_cohort = rs
        .cohorts
        .iter()
        .map(|c| col(cohort_col(&c.id)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    let any_suppress = rs
        .suppress
        .iter()
        .map(|c| col(suppress_col(&c.id)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    lf = lf.with_columns([
        all_base.and(any_cohort).alias(ELIGIBLE),
        any_suppress.alias(SUPPRESSED),
    ]);
    lf = lf.with_column(col(ELIGIBLE).and(col(SUPPRESSED).not()).alias(CANDIDATE));

    let terms: Vec<Expr> = rs
        .score
        .iter()
        .map(|t| term_points(t).alias(score_col(&t.id)))
        .collect();
    if !terms.is_empty() {
        lf = lf.with_columns(terms);
    }
    let total = rs
        .score
        .iter()
        .map(|t| col(score_col(&t.id)))
        .reduce(|a, b| a + b)
        .unwrap_or(lit(0i64));
    lf = lf.with_column(total.alias(SCORE));

    lf
}

/// Adds the `cohorts` (sorted ids joined by `;`) and `reasons` columns: done only for the
/// people who are listed, since explanations cost text per row.
pub fn annotate(lf: LazyFrame, rs: &RuleSet) -> LazyFrame {
    let mut ids: Vec<&Condition> = rs.cohorts.iter().collect();
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    let cohorts = concat_str(
        ids.iter()
            .map(|c| {
                when(col(cohort_col(&c.id)))
                    .then(lit(c.id.as_str()))
                    .otherwise(lit(NULL).cast(DataType::String))
            })
            .collect::<Vec<_>>(),
        ";",
        true,
    );
    let mut reasons: Vec<Expr> = rs.cohorts.iter().map(cohort_reason).collect();
    reasons.extend(rs.score.iter().map(term_reason));
    lf.with_columns([
        cohorts.alias(COHORTS),
        concat_str(reasons, "; ", true).alias(REASONS),
    ])
}

/// The names of the person frame's flag and score columns, for reports.
pub fn flag_columns(rs: &RuleSet) -> Vec<String> {
    let mut v: Vec<String> = rs.base.iter().map(|c| base_col(&c.id)).collect();
    v.extend(rs.cohorts.iter().map(|c| cohort_col(&c.id)));
    v.extend(rs.suppress.iter().map(|c| suppress_col(&c.id)));
    v.extend(rs.score.iter().map(|t| score_col(&t.id)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's claim found by its hash, whether its run of equal hashes is its claim's only
    /// one (7), comes back later (5), follows a null (9) or has no claim in the part (4); a
    /// null row has no claim.
    #[test]
    fn claim_positions_find_each_rows_claim_across_runs_nulls_and_absences() {
        let rows: UInt64Chunked = [
            Some(5),
            Some(5),
            Some(7),
            None,
            Some(9),
            Some(9),
            Some(4),
            Some(5),
            Some(7),
            Some(4),
        ]
        .into_iter()
        .collect();
        let claims: UInt64Chunked = [Some(1), Some(9), None, Some(7), Some(5)]
            .into_iter()
            .collect();
        let at: Vec<Option<IdxSize>> = claim_positions(&rows, &claims).iter().collect();
        assert_eq!(
            at,
            [
                Some(4),
                Some(4),
                Some(3),
                None,
                Some(1),
                Some(1),
                None,
                Some(4),
                Some(3),
                None
            ]
        );
        // The same hashes in chunks of two arrays each: positions count across the chunks.
        let chunked = |values: &[Option<u64>], cut: usize| {
            let mut ca: UInt64Chunked = values[..cut].iter().copied().collect();
            ca.append(&values[cut..].iter().copied().collect::<UInt64Chunked>())
                .unwrap();
            assert_eq!(ca.chunks().len(), 2);
            ca
        };
        let rows_values: Vec<Option<u64>> = rows.iter().collect();
        let claims_values: Vec<Option<u64>> = claims.iter().collect();
        let again: Vec<Option<IdxSize>> =
            claim_positions(&chunked(&rows_values, 4), &chunked(&claims_values, 2))
                .iter()
                .collect();
        assert_eq!(again, at);
    }

    fn set(id: &str, prefixes: &[&str], exact: &[&str]) -> ir::CodeSet {
        ir::CodeSet {
            id: id.into(),
            label: id.into(),
            points: 1,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            exact: exact.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// The sets' flags from the masks are those of one `starts_with` per prefix and an
    /// equality per exact code, row by row: overlapping sets, exact codes against prefixes,
    /// a prefix longer than the code, a null code, case, and sets past the first 64.
    #[test]
    fn code_set_masks_flag_what_one_test_per_prefix_flags() {
        let mut sets = vec![
            set("A", &["K0"], &[]),
            set("B", &["K00", "M30"], &[]),
            set("C", &[], &["N10"]),
            set("D", &["N10"], &["P11"]),
            set("E", &["LONGPREFIX123"], &[]),
        ];
        for k in 0..64 {
            sets.push(set(&format!("X{k}"), &[&format!("Z{k:02}")], &[]));
        }
        let codes = [
            Some("K001"),
            Some("K0"),
            Some("K"),
            Some("M309"),
            Some("N10"),
            Some("N109"),
            Some("P11"),
            Some("P119"),
            None,
            Some("Z63"),
            Some("Z631"),
            Some("Z05"),
            Some(""),
            Some("LONGPREFIX1234"),
            Some("LONGPREFIX12"),
            Some("k001"),
        ];
        let df = df!("dx_code" => codes).unwrap();
        let c = col("dx_code");
        let mut exprs = Vec::new();
        for (i, s) in sets.iter().enumerate() {
            exprs.push(codeset_flag("f", i).alias(format!("mask{i}")));
            exprs.push(codeset_match(&c, s).alias(format!("each{i}")));
        }
        let out = df
            .lazy()
            .with_columns(codeset_masks("f", &c, &sets))
            .select(exprs)
            .collect()
            .unwrap();
        for (i, s) in sets.iter().enumerate() {
            let m = out.column(&format!("mask{i}")).unwrap();
            let e = out.column(&format!("each{i}")).unwrap();
            assert_eq!(
                m.as_materialized_series(),
                e.as_materialized_series(),
                "set {}",
                s.id
            );
        }
        let held = |i: usize| -> Vec<Option<bool>> {
            let s = out.column(&format!("mask{i}")).unwrap();
            s.bool().unwrap().iter().collect()
        };
        let t = Some(true);
        let f = Some(false);
        // A: K0…; B: K00…, M30…; C: N10 exactly; D: N10…, P11 exactly.
        assert_eq!(held(0)[..4], [t, t, f, f]);
        assert_eq!(held(1)[..4], [t, f, f, t]);
        assert_eq!(held(2)[4..8], [t, f, f, f]);
        assert_eq!(held(3)[4..8], [t, t, t, f]);
        assert_eq!(held(0)[8], None);
        // Z63 is the 64th X set (the second mask column), Z05 the 6th.
        assert_eq!(held(5 + 63)[9..12], [t, t, f]);
        assert_eq!(held(5 + 5)[9..12], [f, f, t]);
        // E: a prefix past the inline 12 bytes; case matters.
        assert_eq!(held(4)[12..16], [f, t, f, f]);
    }
}
