//! Column mapping: renaming and converting a warehouse's own tables to the contract.
//!
//! A mapping file is TOML. Each contract table it names says where the table comes from
//! (`from`, a file stem found like any table: `STEM/`, `STEM.parquet`, `STEM.csv`), how each
//! contract column is computed from the source's columns (an expression of the rule language:
//! a bare name renames, `ymd(MDCARE_STRT_DT)` parses `YYYYMMDD` text, `if(FORM_CD in ('02',
//! '07'), 'IN', 'OUT')` maps codes), which columns come from the mapped claims table by
//! `claim_id` (`claim_columns`), or that the layout has no such table (`absent = true`).
//! Tables the file does not name are read with the contract's own names. See
//! `docs/data-loading.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Deserialize;
use toml::Spanned;

use super::{
    ExtractError, InputEncoding, LoadedTable, TableSource, conform, empty_frame, load_table,
    locate, scan_source,
};
use crate::contract::{ColType, Table};
use crate::diag::{Diagnostic, inner_span, shift};
use crate::rules::expr::{self, BinOp, Expr as Ast, ExprKind, UnaryOp};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    mapping: Meta,
    persons: Option<TableMapping>,
    claims: Option<TableMapping>,
    diagnoses: Option<TableMapping>,
    prescriptions: Option<TableMapping>,
    ltc_assessments: Option<TableMapping>,
    ltc_services: Option<TableMapping>,
    program_history: Option<TableMapping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableMapping {
    /// The source file stem; the contract name when absent.
    from: Option<String>,
    /// The layout has no such table: an empty table stands in for it.
    #[serde(default)]
    absent: bool,
    /// Why the table is absent, for the run's report.
    reason: Option<String>,
    /// Contract columns taken from the mapped claims table, joined on `claim_id`.
    #[serde(default)]
    claim_columns: Vec<String>,
    #[serde(default)]
    columns: BTreeMap<String, Spanned<String>>,
}

/// A mapping file, parsed and checked against the contract.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    text: String,
    tables: BTreeMap<&'static str, TableMapping>,
}

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Located(Box<Diagnostic>),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

fn located(d: Diagnostic) -> MappingError {
    MappingError::Located(Box::new(d))
}

impl Mapping {
    pub fn from_file(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => located(Diagnostic::new(path, text, span, e.message().to_string())),
            None => MappingError::Invalid {
                path: path.to_path_buf(),
                message: e.message().to_string(),
            },
        })?;
        let mut tables = BTreeMap::new();
        let named = [
            (&crate::contract::PERSONS, file.persons),
            (&crate::contract::CLAIMS, file.claims),
            (&crate::contract::DIAGNOSES, file.diagnoses),
            (&crate::contract::PRESCRIPTIONS, file.prescriptions),
            (&crate::contract::LTC_ASSESSMENTS, file.ltc_assessments),
            (&crate::contract::LTC_SERVICES, file.ltc_services),
            (&crate::contract::PROGRAM_HISTORY, file.program_history),
        ];
        for (spec, tm) in named {
            let Some(tm) = tm else { continue };
            for (column, value) in &tm.columns {
                if spec.column(column).is_none() {
                    return Err(located(
                        Diagnostic::new(
                            path,
                            text,
                            value.span(),
                            format!(
                                "`{column}` is not a column of the contract table `{}`",
                                spec.name
                            ),
                        )
                        .help(format!(
                            "the columns of `{}` are: {}",
                            spec.name,
                            spec.column_names().collect::<Vec<_>>().join(", ")
                        )),
                    ));
                }
                let inner = inner_span(text, value);
                expr::parse(value.get_ref()).map_err(|e| {
                    located(Diagnostic::new(
                        path,
                        text,
                        shift(&inner, e.span.start, e.span.end),
                        e.message.clone(),
                    ))
                })?;
            }
            for c in &tm.claim_columns {
                if spec.column(c).is_none() || spec.column("claim_id").is_none() {
                    return Err(MappingError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "[{}] claim_columns: `{c}` is not a column of `{}`, or the table has no claim_id",
                            spec.name, spec.name
                        ),
                    });
                }
            }
            tables.insert(spec.name, tm);
        }
        Ok(Mapping {
            path: path.to_path_buf(),
            name: file.mapping.name,
            description: file.mapping.description,
            text: text.to_string(),
            tables,
        })
    }

    /// The tables the mapping declares absent, with the reason it gives.
    pub fn absent_tables(&self) -> Vec<(&'static str, String)> {
        self.tables
            .iter()
            .filter(|(_, t)| t.absent)
            .map(|(n, t)| (*n, t.reason.clone().unwrap_or_default()))
            .collect()
    }

    /// Loads contract table `spec` from `dir` through this mapping; `loaded` holds the tables
    /// loaded so far (claims come before the tables that borrow its columns).
    pub(crate) fn load(
        &self,
        dir: &Path,
        spec: &'static Table,
        loaded: &[LoadedTable],
        encoding: InputEncoding,
    ) -> Result<LoadedTable, ExtractError> {
        let Some(tm) = self.tables.get(spec.name) else {
            return load_table(dir, spec, spec.name, None, encoding);
        };
        if tm.absent {
            return Ok(LoadedTable::new(
                spec,
                TableSource::Absent,
                empty_frame(spec),
            ));
        }
        let stem = tm.from.clone().unwrap_or_else(|| spec.name.to_string());
        let Some(source) = locate(dir, &stem, encoding)? else {
            return Err(ExtractError::MissingTable {
                dir: dir.to_path_buf(),
                table: spec.name,
                stem,
            });
        };
        let mut raw = scan_source(&source, None)?;
        let found = raw
            .collect_schema()
            .map_err(|e| ExtractError::read(&source, e))?;
        let mut exprs = Vec::new();
        for c in spec.columns {
            if tm.claim_columns.iter().any(|x| x == c.name) {
                continue;
            }
            let (text, span) = match tm.columns.get(c.name) {
                Some(v) => (v.get_ref().clone(), inner_span(&self.text, v)),
                None => (c.name.to_string(), 0..0),
            };
            let ast = expr::parse(&text)
                .map_err(|e| self.err(&span, e.span.start, e.span.end, e.message.clone()))?;
            let e = self.lower(&ast, &found, &source, &span)?;
            exprs.push(e.alias(c.name));
        }
        let mut lf = raw.select(exprs);
        let mut borrowed = None;
        if !tm.claim_columns.is_empty() {
            let claims = loaded
                .iter()
                .find(|t| t.spec.name == "claims")
                .expect("claims load before the tables that borrow from it");
            borrowed = Some(claims);
            let mut cols = vec![col("claim_id")];
            cols.extend(tm.claim_columns.iter().map(|c| col(c.as_str())));
            lf = lf.join(
                claims.lazy().select(cols),
                [col("claim_id")],
                [col("claim_id")],
                JoinArgs::new(JoinType::Left),
            );
        }
        // A mapping converts explicitly: text (from CSV) and numbers of another width become
        // the contract's number type, strictly (a value that does not fit is an error).
        let mapped = lf
            .collect_schema()
            .map_err(|e| ExtractError::read(&source, e))?;
        let casts: Vec<Expr> = spec
            .columns
            .iter()
            .filter(|c| matches!(c.ty, ColType::I32 | ColType::I64 | ColType::F64))
            .filter(|c| {
                mapped.get(c.name).is_some_and(|d| {
                    d != &c.ty.dtype() && (d == &DataType::String || d.is_primitive_numeric())
                })
            })
            .map(|c| col(c.name).strict_cast(c.ty.dtype()))
            .collect();
        if !casts.is_empty() {
            lf = lf.with_columns(casts);
        }
        let mut lf2 = lf.clone();
        let schema = lf2
            .collect_schema()
            .map_err(|e| ExtractError::read(&source, e))?;
        let from = |name: &str| match tm.columns.get(name) {
            Some(v) => v.get_ref().clone(),
            None => name.to_string(),
        };
        let lf = conform(lf, &schema, spec, &source, Some(&from))?;
        let table = LoadedTable::new(spec, source, lf);
        Ok(match borrowed {
            Some(claims) => table.reading(claims),
            None => table,
        })
    }

    fn err(
        &self,
        span: &std::ops::Range<usize>,
        start: usize,
        end: usize,
        message: String,
    ) -> ExtractError {
        ExtractError::Mapping(located(Diagnostic::new(
            &self.path,
            &self.text,
            shift(span, start, end),
            message,
        )))
    }

    /// Lowers a mapping expression over the source's columns to a Polars expression.
    fn lower(
        &self,
        e: &Ast,
        found: &Schema,
        source: &TableSource,
        at: &std::ops::Range<usize>,
    ) -> Result<Expr, ExtractError> {
        let sub = |x: &Ast| self.lower(x, found, source, at);
        let fail = |x: &Ast, msg: String| self.err(at, x.span.start, x.span.end, msg);
        Ok(match &e.kind {
            ExprKind::Int(v) => lit(*v),
            ExprKind::Float(v) => lit(*v),
            ExprKind::Str(s) => lit(s.as_str()),
            ExprKind::Bool(b) => lit(*b),
            ExprKind::Null => lit(NULL),
            ExprKind::Ident(path) => {
                let name = path.join(".");
                if found.get(&name).is_none() {
                    let names: Vec<String> = found.iter_names().map(|n| n.to_string()).collect();
                    return Err(fail(
                        e,
                        format!(
                            "no column `{name}` in {source}; it has: {}",
                            names.join(", ")
                        ),
                    ));
                }
                col(name.as_str())
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => sub(expr)?.not(),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => lit(0) - sub(expr)?,
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (sub(lhs)?, sub(rhs)?);
                match op {
                    BinOp::Or => l.or(r),
                    BinOp::And => l.and(r),
                    BinOp::Eq => l.eq(r),
                    BinOp::Ne => l.neq(r),
                    BinOp::Lt => l.lt(r),
                    BinOp::Le => l.lt_eq(r),
                    BinOp::Gt => l.gt(r),
                    BinOp::Ge => l.gt_eq(r),
                    BinOp::Add => l + r,
                    BinOp::Sub => l - r,
                    BinOp::Mul => l * r,
                    BinOp::Div => l / r,
                }
            }
            ExprKind::IsNull { expr, negated } => {
                let x = sub(expr)?;
                if *negated {
                    x.is_not_null()
                } else {
                    x.is_null()
                }
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let x = sub(expr)?;
                let values = literal_series(list).ok_or_else(|| {
                    fail(
                        e,
                        "the list after `in` must hold literals of one type".into(),
                    )
                })?;
                let m = x.is_in(lit(values).implode(false), false);
                if *negated { m.not() } else { m }
            }
            ExprKind::Call { name, args, .. } => {
                let want = |n: usize| -> Result<(), ExtractError> {
                    if args.len() == n {
                        Ok(())
                    } else {
                        Err(fail(
                            e,
                            format!("`{name}` takes {n} argument(s), found {}", args.len()),
                        ))
                    }
                };
                match name.as_str() {
                    "if" => {
                        want(3)?;
                        when(sub(&args[0])?)
                            .then(sub(&args[1])?)
                            .otherwise(sub(&args[2])?)
                    }
                    "ymd" => {
                        want(1)?;
                        to_date(sub(&args[0])?, "%Y%m%d")
                    }
                    "ym" => {
                        want(1)?;
                        let s = sub(&args[0])?.cast(DataType::String);
                        to_date(concat_str([s, lit("01")], "", false), "%Y%m%d")
                    }
                    "add_days" => {
                        want(2)?;
                        (sub(&args[0])?.cast(DataType::Int32)
                            + sub(&args[1])?.cast(DataType::Int32))
                        .cast(DataType::Date)
                    }
                    "upper" => {
                        want(1)?;
                        sub(&args[0])?.cast(DataType::String).str().to_uppercase()
                    }
                    "text" => {
                        want(1)?;
                        sub(&args[0])?.cast(DataType::String)
                    }
                    "int" => {
                        want(1)?;
                        sub(&args[0])?.strict_cast(DataType::Int64)
                    }
                    "coalesce" => {
                        if args.is_empty() {
                            return Err(fail(e, "`coalesce` takes at least one argument".into()));
                        }
                        coalesce(&args.iter().map(&sub).collect::<Result<Vec<_>, _>>()?)
                    }
                    other => {
                        return Err(fail(
                            e,
                            format!(
                                "unknown mapping function `{other}`: use if, ymd, ym, add_days, upper, text, int or coalesce"
                            ),
                        ));
                    }
                }
            }
        })
    }
}

fn to_date(e: Expr, format: &str) -> Expr {
    e.cast(DataType::String).str().to_date(StrptimeOptions {
        format: Some(format.into()),
        strict: true,
        exact: true,
        cache: true,
    })
}

fn literal_series(list: &[Ast]) -> Option<Series> {
    if list.iter().all(|x| matches!(x.kind, ExprKind::Str(_))) {
        let v: Vec<&str> = list
            .iter()
            .filter_map(|x| {
                if let ExprKind::Str(s) = &x.kind {
                    Some(s.as_str())
                } else {
                    None
                }
            })
            .collect();
        return Some(Series::new("list".into(), v));
    }
    if list.iter().all(|x| matches!(x.kind, ExprKind::Int(_))) {
        let v: Vec<i64> = list
            .iter()
            .filter_map(|x| {
                if let ExprKind::Int(i) = x.kind {
                    Some(i)
                } else {
                    None
                }
            })
            .collect();
        return Some(Series::new("list".into(), v));
    }
    None
}
