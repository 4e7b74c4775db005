//! Row-level checks of an extract against the data contract: nulls where none are allowed,
//! values outside the enumerations, malformed codes, duplicate keys, date order, negative
//! amounts, LTC grades that contradict their scores, and orphan rows.
//!
//! Each table is checked in one lazy aggregation (one scan); orphans take one anti-join each.
//! The result counts *rows* per table and rule, with up to three example row numbers
//! (0-based, in the table's scan order).

use polars::prelude::*;

use crate::contract::ColType;
use crate::extract::{Extract, ExtractError, LoadedTable};

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

struct Check {
    rule: String,
    description: String,
    /// True for a row that breaks the rule.
    bad: Expr,
}

fn checks_for(t: &LoadedTable, as_of: chrono::NaiveDate) -> Vec<Check> {
    let spec = t.spec;
    let mut out = Vec::new();
    for c in spec.columns {
        if !c.nullable {
            out.push(Check {
                rule: format!("null:{}", c.name),
                description: format!("`{}` is empty but may not be", c.name),
                bad: col(c.name).is_null(),
            });
        }
        if let Some(values) = c.values {
            // One comparison per allowed value, not `is_in` of a literal list: polars 0.55
            // runs an aggregation over `is_in(list)` in memory, which loaded all 79 M claims
            // of a 1 M-person extract (8.9 GB).
            let allowed = values
                .iter()
                .map(|v| col(c.name).eq(lit(*v)))
                .reduce(|a, b| a.or(b))
                .unwrap_or(lit(false));
            out.push(Check {
                rule: format!("enum:{}", c.name),
                description: format!("`{}` is not one of {}", c.name, values.join(", ")),
                bad: col(c.name).is_not_null().and(allowed.not()),
            });
        }
        if c.ty == ColType::Str && !c.nullable && c.values.is_none() {
            out.push(Check {
                rule: format!("empty:{}", c.name),
                description: format!("`{}` is an empty string", c.name),
                bad: col(c.name).str().len_bytes().eq(lit(0u32)),
            });
        }
        if c.ty == ColType::Date {
            out.push(Check {
                rule: format!("date_range:{}", c.name),
                description: format!(
                    "`{}` is before 1900-01-01 or more than 10 years after as_of",
                    c.name
                ),
                bad: col(c.name)
                    .lt(date_lit(date(1900, 1, 1)))
                    .or(col(c.name).gt(date_lit(date(as_of_year(as_of) + 10, 1, 1)))),
            });
        }
    }
    let nonneg = |name: &str| Check {
        rule: format!("negative:{name}"),
        description: format!("`{name}` is negative"),
        bad: col(name).lt(lit(0)),
    };
    match spec.name {
        "persons" => {
            out.push(sgg_check("sgg_code"));
            out.push(Check {
                rule: "range:birth_year".into(),
                description: "`birth_year` is outside 1890 – the as_of year".into(),
                bad: col("birth_year")
                    .lt(lit(1890))
                    .or(col("birth_year").gt(lit(as_of_year(as_of)))),
            });
            out.push(Check {
                rule: "range:income_decile".into(),
                description: "`income_decile` is outside 1–10".into(),
                bad: col("income_decile")
                    .lt(lit(1))
                    .or(col("income_decile").gt(lit(10))),
            });
        }
        "claims" => {
            out.push(nonneg("cost_krw"));
            out.push(Check {
                rule: "end_before_start".into(),
                description: "`end_date` is before `start_date`".into(),
                bad: col("end_date").lt(col("start_date")),
            });
            out.push(Check {
                rule: "end_not_start".into(),
                description: "a claim other than `IN` has `end_date` different from `start_date`"
                    .into(),
                bad: col("care_type")
                    .neq(lit("IN"))
                    .and(col("end_date").neq_missing(col("start_date"))),
            });
        }
        "diagnoses" => {
            out.push(Check {
                rule: "format:dx_code".into(),
                description: "`dx_code` is not an upper-case KCD code of 3–6 characters without a dot".into(),
                bad: col("dx_code").str().contains(lit(r"^[A-Z][0-9A-Z]{2,5}$"), true).not(),
            });
            out.push(Check {
                rule: "range:dx_order".into(),
                description: "`dx_order` is below 1".into(),
                bad: col("dx_order").lt(lit(1)),
            });
        }
        "prescriptions" => {
            out.push(Check {
                rule: "format:ingredient_code".into(),
                description: "`ingredient_code` is not 9 characters".into(),
                bad: col("ingredient_code").str().len_chars().neq(lit(9u32)),
            });
            out.push(Check {
                rule: "range:days_supply".into(),
                description: "`days_supply` is below 1".into(),
                bad: col("days_supply").lt(lit(1)),
            });
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
            });
            out.push(Check {
                rule: "decision_before_application".into(),
                description: "`decision_date` is before `application_date`".into(),
                bad: col("decision_date").lt(col("application_date")),
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
            });
        }
        "ltc_services" => {
            out.push(nonneg("cost_krw"));
            out.push(Check {
                rule: "range:days".into(),
                description: "`days` is outside 1–31".into(),
                bad: col("days").lt(lit(1)).or(col("days").gt(lit(31))),
            });
            out.push(Check {
                rule: "month_start:service_month".into(),
                description: "`service_month` is not the first day of a month".into(),
                bad: col("service_month").dt().day().neq(lit(1)),
            });
        }
        "program_history" => {
            out.push(sgg_check("sgg_code"));
            out.push(Check {
                rule: "month_start:event_month".into(),
                description: "`event_month` is not the first day of a month".into(),
                bad: col("event_month").dt().day().neq(lit(1)),
            });
        }
        _ => {}
    }
    out
}

fn sgg_check(name: &str) -> Check {
    Check {
        rule: format!("format:{name}"),
        description: format!("`{name}` is not a 5-digit 시군구 code"),
        bad: col(name).str().contains(lit(r"^[0-9]{5}$"), true).not(),
    }
}

/// A `Date` literal (`lit(NaiveDate)` is a `Datetime` in polars 0.55: a row-by-row cast).
fn date_lit(d: chrono::NaiveDate) -> Expr {
    let epoch = date(1970, 1, 1);
    lit((d - epoch).num_days() as i32).cast(DataType::Date)
}

fn as_of_year(d: chrono::NaiveDate) -> i32 {
    chrono::Datelike::year(&d)
}

fn date(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn count(lf: LazyFrame, t: &LoadedTable) -> Result<u64, ExtractError> {
    let df = lf
        .select([len().alias("n")])
        .collect()
        .map_err(|e| read_err(t, e))?;
    Ok(df
        .column("n")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0))
}

fn read_err(t: &LoadedTable, e: PolarsError) -> ExtractError {
    ExtractError::read(&t.source, e)
}

/// Checks every row of every table; returns the broken rules, in contract order.
pub fn check(ex: &Extract, as_of: chrono::NaiveDate) -> Result<Vec<Violation>, ExtractError> {
    let mut out = Vec::new();
    for t in ex.tables() {
        let checks = checks_for(t, as_of);
        let aggs: Vec<Expr> = checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.bad
                    .clone()
                    .fill_null(lit(false))
                    .cast(DataType::UInt64)
                    .sum()
                    .alias(format!("c{i}"))
            })
            .collect();
        let df = t
            .lazy()
            .select(aggs)
            .collect()
            .map_err(|e| read_err(t, e))?;
        for (i, c) in checks.into_iter().enumerate() {
            let n = df
                .column(&format!("c{i}"))
                .ok()
                .and_then(|s| s.get(0).ok())
                .and_then(|v| v.extract::<u64>())
                .unwrap_or(0);
            if n > 0 {
                out.push(Violation {
                    table: t.spec.name,
                    rule: c.rule,
                    description: c.description,
                    rows: n,
                });
            }
        }
        for key in [t.spec.key].into_iter().filter(|k| !k.is_empty()) {
            let total = count(t.lazy(), t)?;
            let distinct = count(
                t.lazy()
                    .select(key.iter().map(|k| col(*k)).collect::<Vec<_>>())
                    .unique(None, UniqueKeepStrategy::Any),
                t,
            )?;
            if distinct < total {
                out.push(Violation {
                    table: t.spec.name,
                    rule: "duplicate_key".into(),
                    description: format!("the key ({}) is not unique", key.join(", ")),
                    rows: total - distinct,
                });
            }
        }
        if t.spec.name != "persons" && t.spec.column("person_id").is_some() {
            out.extend(orphans(ex, t, "persons", "person_id")?);
        }
        if matches!(t.spec.name, "diagnoses" | "prescriptions") {
            out.extend(orphans(ex, t, "claims", "claim_id")?);
        }
    }
    Ok(out)
}

/// Rows of `t` whose `key` is not in table `parent`.
fn orphans(
    ex: &Extract,
    t: &LoadedTable,
    parent: &str,
    key: &str,
) -> Result<Option<Violation>, ExtractError> {
    let rows = t.lazy().join(
        ex.lazy(parent).select([col(key)]),
        [col(key)],
        [col(key)],
        JoinArgs::new(JoinType::Anti),
    );
    let n = count(rows, t)?;
    Ok((n > 0).then(|| Violation {
        table: t.spec.name,
        rule: format!("orphan:{key}"),
        description: format!("`{key}` is not in {parent}"),
        rows: n,
    }))
}

/// The rows of one table set aside because they break a row-level rule of the contract.
#[derive(Debug, Clone)]
pub struct SetAside {
    pub table: &'static str,
    /// Rows in the table.
    pub rows_total: u64,
    /// Rows set aside (a row breaking several rules counts once).
    pub rows_set_aside: u64,
    /// Rows breaking each rule (a row may break more than one).
    pub rules: Vec<Violation>,
    /// The first three rows breaking each rule, as `row N: col=value, …` (N counts data
    /// rows from 1 in the table's scan order).
    pub examples: Vec<(String, Vec<String>)>,
    /// The rows set aside with a `reason` column (the rules they break, `; `-separated).
    pub rows: DataFrame,
    /// True for a row to set aside.
    pub bad: Expr,
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
}

/// The row-level rules (those a row can break by itself: nulls, enumerations, formats,
/// ranges, date order, grade against score), counted in one pass per table. Tables without a
/// broken row cost that one pass and nothing else; for the others the broken rows are
/// collected (with their reasons) and three examples per rule. Duplicate keys and orphans
/// need a join per table and are checked by [`check`], not here.
pub fn row_level(ex: &Extract, as_of: chrono::NaiveDate) -> Result<Vec<SetAside>, ExtractError> {
    let mut out = Vec::new();
    for t in ex.tables() {
        let checks = checks_for(t, as_of);
        if checks.is_empty() {
            continue;
        }
        let bads: Vec<Expr> = checks
            .iter()
            .map(|c| c.bad.clone().fill_null(lit(false)))
            .collect();
        let any = bads
            .iter()
            .cloned()
            .reduce(|a, b| a.or(b))
            .unwrap_or(lit(false));
        // Counts per rule only: when all are zero (a clean table, the usual case) the table
        // is read once. The rows set aside (any rule broken) are counted from the rows
        // themselves, collected below only for a table with broken rows.
        let mut aggs: Vec<Expr> = bads
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.clone()
                    .cast(DataType::UInt64)
                    .sum()
                    .alias(format!("c{i}"))
            })
            .collect();
        aggs.push(len().cast(DataType::UInt64).alias("total"));
        let df = t
            .lazy()
            .select(aggs)
            .collect_with_engine(Engine::Streaming)
            .map_err(|e| read_err(t, e))?
            .unwrap_single();
        let get = |name: &str| {
            df.column(name)
                .ok()
                .and_then(|s| s.get(0).ok())
                .and_then(|v| v.extract::<u64>())
                .unwrap_or(0)
        };
        if (0..checks.len()).all(|i| get(&format!("c{i}")) == 0) {
            continue;
        }
        let mut rules = Vec::new();
        let mut examples = Vec::new();
        for (i, c) in checks.iter().enumerate() {
            let n = get(&format!("c{i}"));
            if n == 0 {
                continue;
            }
            rules.push(Violation {
                table: t.spec.name,
                rule: c.rule.clone(),
                description: c.description.clone(),
                rows: n,
            });
            let ex_df = t
                .lazy()
                .with_row_index("__row", Some(1))
                .filter(bads[i].clone())
                .limit(3)
                .collect()
                .map_err(|e| read_err(t, e))?;
            examples.push((c.rule.clone(), render_rows(&ex_df)));
        }
        let reason = concat_str(
            checks
                .iter()
                .zip(&bads)
                .map(|(c, b)| {
                    when(b.clone())
                        .then(lit(c.rule.as_str()))
                        .otherwise(lit(NULL).cast(DataType::String))
                })
                .collect::<Vec<_>>(),
            "; ",
            true,
        );
        let rows = t
            .lazy()
            .filter(any.clone())
            .with_column(reason.alias("reason"))
            .collect_with_engine(Engine::Streaming)
            .map_err(|e| read_err(t, e))?
            .unwrap_single();
        out.push(SetAside {
            table: t.spec.name,
            rows_total: get("total"),
            rows_set_aside: rows.height() as u64,
            rules,
            examples,
            rows,
            bad: any,
        });
    }
    Ok(out)
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
