//! Checking a rule file and lowering it to the typed IR: every name resolved (table columns,
//! person columns, features, derived values, parameters, R), every parameter replaced by the
//! value in force at R, every expression type-checked, derived values ordered (a cycle is an
//! error). Errors point into the rule file with a caret. No data is read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Months, NaiveDate};
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::expr::{self, BinOp, Expr as Ast, ExprKind, UnaryOp};
use super::ruleset::{CohortDef, CriterionDef, ParamValue, Points, RuleFile};
use crate::contract::{self, ColType};
use crate::diag::{Diagnostic, inner_span, shift};
use crate::ir::{
    self, Agg, Arith, Cmp, CodeSet, Condition, Expr, Feature, ReasonPart, ScoreRule, ScoreTerm,
    SortKey, Ty, Value,
};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
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

/// The person-level columns every rule set can use, besides features.
pub const PERSON_COLUMNS: &[(&str, Ty)] = &[
    ("person_id", Ty::Str),
    ("birth_year", Ty::Int),
    ("age", Ty::Int),
    ("sex", Ty::Str),
    ("sgg_code", Ty::Str),
    ("insurance_type", Ty::Str),
    ("income_decile", Ty::Int),
    ("disability", Ty::Bool),
    ("death_date", Ty::Date),
];

fn col_ty(t: ColType) -> Ty {
    match t {
        ColType::Str => Ty::Str,
        ColType::I32 | ColType::I64 => Ty::Int,
        ColType::F64 => Ty::Float,
        ColType::Bool => Ty::Bool,
        ColType::Date => Ty::Date,
    }
}

/// The columns a feature on `table` may read: the table's own, and for a table that takes its
/// claim's date (the diagnoses) that date (`start_date`).
pub fn table_columns(table: &str) -> Option<Vec<(String, Ty)>> {
    let spec = contract::table(table)?;
    let mut cols: Vec<(String, Ty)> = spec
        .columns
        .iter()
        .map(|c| (c.name.to_string(), col_ty(c.ty)))
        .collect();
    if let Some(d) = spec.event_date.filter(|_| spec.takes_claim_date()) {
        cols.push((d.into(), Ty::Date));
    }
    Some(cols)
}

/// Loads, checks and lowers the rule set in `path` for reference date `as_of`.
pub fn load(path: &Path, as_of: NaiveDate) -> Result<ir::RuleSet, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Checker::new(path, &text, as_of).run()
}

/// Like [`load`], with some parameters' values replaced (rule tests use it to test a clause
/// at a small value, e.g. a cap of 2). An override must name a parameter of the rule set and
/// have its type; it enters the rule set's hash.
pub fn load_with_params(
    path: &Path,
    as_of: NaiveDate,
    overrides: &BTreeMap<String, ParamValue>,
) -> Result<ir::RuleSet, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut c = Checker::new(path, &text, as_of);
    for (name, v) in overrides {
        c.hasher
            .update(format!("\noverride {name} = {v:?}").as_bytes());
    }
    c.overrides = overrides.clone();
    c.run()
}

/// Checks a rule set from text (for tests and `balgul check`).
pub fn check_text(path: &Path, text: &str, as_of: NaiveDate) -> Result<ir::RuleSet, RuleError> {
    Checker::new(path, text, as_of).run()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    /// Rows of a table (feature filters and aggregation arguments).
    Table(&'a str),
    /// The person frame (conditions, scores, derived values).
    Person,
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    as_of: NaiveDate,
    params: BTreeMap<String, (Value, Ty)>,
    codesets: Vec<CodeSet>,
    /// Person-level names: person columns, features, derived values.
    person: HashMap<String, Ty>,
    /// Code-set features: name → its sets.
    codeset_features: HashMap<String, Vec<CodeSet>>,
    hasher: Sha256,
    /// Parameter values that replace the file's (see [`load_with_params`]).
    overrides: BTreeMap<String, ParamValue>,
}

type R<T> = Result<T, RuleError>;

impl<'a> Checker<'a> {
    fn new(path: &'a Path, text: &'a str, as_of: NaiveDate) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        Checker {
            path,
            text,
            as_of,
            params: BTreeMap::new(),
            codesets: Vec::new(),
            person: PERSON_COLUMNS
                .iter()
                .map(|(n, t)| (n.to_string(), *t))
                .collect(),
            codeset_features: HashMap::new(),
            hasher,
            overrides: BTreeMap::new(),
        }
    }

    fn at(&self, span: Range<usize>, message: impl Into<String>) -> RuleError {
        RuleError::Located(Box::new(Diagnostic::new(
            self.path, self.text, span, message,
        )))
    }

    fn run(mut self) -> R<ir::RuleSet> {
        let file: RuleFile = toml::from_str(self.text).map_err(|e| match e.span() {
            Some(span) => self.at(span, e.message().to_string()),
            None => RuleError::Invalid {
                path: self.path.to_path_buf(),
                message: e.message().to_string(),
            },
        })?;
        let params = self.params(&file)?;
        self.load_codesets(&file)?;

        let mut features = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, def) in &file.features {
            let n = name.get_ref();
            if self.person.contains_key(n) || !seen.insert(n.clone()) {
                return Err(self.at(name.span(), format!("the feature `{n}` has the name of a person column or another feature: rename it")));
            }
            let f = self.feature(n, def)?;
            self.person.insert(n.clone(), f.ty);
            if let Agg::CodeSets { sets, .. } = &f.agg {
                self.codeset_features.insert(n.clone(), sets.clone());
            }
            features.push(f);
        }
        let derived = self.derived(&file)?;

        let base = file
            .base
            .iter()
            .map(|c| self.criterion(c))
            .collect::<R<Vec<_>>>()?;
        let cohorts = file
            .cohort
            .iter()
            .map(|c| self.cohort(c))
            .collect::<R<Vec<_>>>()?;
        let suppress = file
            .suppress
            .iter()
            .map(|c| self.criterion(c))
            .collect::<R<Vec<_>>>()?;
        for group in [&base, &cohorts, &suppress] {
            let mut ids = BTreeSet::new();
            for c in group.iter() {
                if !ids.insert(c.id.clone()) {
                    return Err(RuleError::Invalid {
                        path: self.path.to_path_buf(),
                        message: format!("the id `{}` is used twice", c.id),
                    });
                }
            }
        }
        if cohorts.is_empty() {
            return Err(RuleError::Invalid {
                path: self.path.to_path_buf(),
                message: "the rule set has no [[cohort]]: a candidate must be in at least one target group".into(),
            });
        }
        let mut score = Vec::new();
        for s in &file.score {
            score.push(self.score(s)?);
        }
        let mut order_by = Vec::new();
        match &file.ranking.order_by {
            None => {
                order_by.push(SortKey {
                    expr: Expr::Col("score".into()),
                    descending: true,
                });
                order_by.push(SortKey {
                    expr: Expr::Col("person_id".into()),
                    descending: false,
                });
            }
            Some(keys) => {
                self.person.insert("score".into(), Ty::Int);
                for k in keys {
                    let raw = k.get_ref().trim();
                    let (e, desc) = match raw.strip_suffix(" desc") {
                        Some(e) => (e, true),
                        None => (raw.strip_suffix(" asc").unwrap_or(raw), false),
                    };
                    let span = inner_span(self.text, k);
                    let ast = self.parse_at(e, &span)?;
                    let (expr, _) = self.lower(&ast, Scope::Person, &span)?;
                    order_by.push(SortKey {
                        expr,
                        descending: desc,
                    });
                }
                self.person.remove("score");
            }
        }
        let cap_span = file.ranking.cap.span();
        let cap = self.points(&file.ranking.cap)?;
        let cap = match cap {
            Expr::Lit(Value::Int(v), _) if v >= 0 => v as usize,
            _ => return Err(self.at(cap_span, "the cap must be a whole number of 0 or more")),
        };
        let sha256 = format!("{:x}", self.hasher.clone().finalize());
        Ok(ir::RuleSet {
            name: file.ruleset.name,
            version: file.ruleset.version,
            title: file.ruleset.title,
            sha256,
            as_of: self.as_of,
            params,
            features,
            derived,
            base,
            cohorts,
            suppress,
            score,
            order_by,
            cap,
        })
    }

    fn params(&mut self, file: &RuleFile) -> R<Vec<(String, Value, Option<String>)>> {
        let mut out = Vec::new();
        for (name, def) in &file.params {
            let span = def.span();
            let d = def.get_ref();
            let (value, reference) = match (&d.value, &d.values) {
                (Some(v), None) => (v.clone(), d.reference.clone()),
                (None, Some(list)) => {
                    let mut best: Option<(NaiveDate, &ParamValue, Option<String>)> = None;
                    for dv in list {
                        let from = toml_date(&dv.from).ok_or_else(|| {
                            self.at(
                                span.clone(),
                                format!("params.{name}: `from` must be a date (YYYY-MM-DD)"),
                            )
                        })?;
                        if from <= self.as_of && best.as_ref().is_none_or(|b| from > b.0) {
                            best = Some((
                                from,
                                &dv.value,
                                dv.reference.clone().or(d.reference.clone()),
                            ));
                        }
                    }
                    match best {
                        Some((_, v, r)) => (v.clone(), r),
                        None => {
                            return Err(self.at(span, format!("params.{name} has no value in force at {}: its earliest `from` is later", self.as_of)));
                        }
                    }
                }
                _ => {
                    return Err(self.at(
                        span,
                        format!("params.{name} needs exactly one of `value` or `values`"),
                    ));
                }
            };
            let (value, reference) = match self.overrides.get(name) {
                None => (value, reference),
                Some(o) if std::mem::discriminant(o) == std::mem::discriminant(&value) => {
                    (o.clone(), Some("overridden".into()))
                }
                Some(o) => {
                    return Err(RuleError::Invalid {
                        path: self.path.to_path_buf(),
                        message: format!(
                            "the override params.{name} = {o:?} has another type than the rule set's value {value:?}"
                        ),
                    });
                }
            };
            let (v, ty) = match value {
                ParamValue::Int(i) => (Value::Int(i), Ty::Int),
                ParamValue::Float(f) => (Value::Float(f), Ty::Float),
                ParamValue::Str(s) => match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
                    Ok(_) => (Value::Str(s), Ty::Str),
                    Err(_) => (Value::Str(s), Ty::Str),
                },
                ParamValue::List(l) => (Value::StrList(l), Ty::StrList),
                ParamValue::Date(dt) => match toml_date(&dt) {
                    Some(d) => (Value::Date(d), Ty::Date),
                    None => {
                        return Err(self.at(
                            span,
                            format!("params.{name}: a date parameter takes YYYY-MM-DD"),
                        ));
                    }
                },
            };
            self.params.insert(name.clone(), (v.clone(), ty));
            out.push((name.clone(), v, reference));
        }
        if let Some(unknown) = self
            .overrides
            .keys()
            .find(|k| !file.params.contains_key(*k))
        {
            let known: Vec<&str> = file.params.keys().map(String::as_str).collect();
            return Err(RuleError::Invalid {
                path: self.path.to_path_buf(),
                message: format!(
                    "the override params.{unknown} names no parameter of the rule set; its parameters are {}",
                    known.join(", ")
                ),
            });
        }
        Ok(out)
    }

    fn load_codesets(&mut self, file: &RuleFile) -> R<()> {
        let mut sets: BTreeMap<String, CodeSet> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut add =
            |id: &str, label: &str, points: i64, kind: &str, code: &str| -> Result<(), String> {
                let set = sets.entry(id.to_string()).or_insert_with(|| {
                    order.push(id.to_string());
                    CodeSet {
                        id: id.to_string(),
                        label: label.to_string(),
                        points,
                        prefixes: vec![],
                        exact: vec![],
                    }
                });
                if set.points != points || set.label != label {
                    return Err(format!(
                        "code set `{id}` has two different labels or point values"
                    ));
                }
                match kind {
                    "prefix" => set.prefixes.push(code.to_string()),
                    "exact" => set.exact.push(code.to_string()),
                    other => {
                        return Err(format!(
                            "code set `{id}`: match `{other}` is neither `prefix` nor `exact`"
                        ));
                    }
                }
                Ok(())
            };
        if let Some(f) = &file.codesets.file {
            let path = self.path.parent().unwrap_or(Path::new(".")).join(f);
            let text = std::fs::read_to_string(&path).map_err(|e| RuleError::Io {
                path: path.clone(),
                source: e,
            })?;
            self.hasher.update(text.as_bytes());
            let mut rdr = csv::Reader::from_reader(text.as_bytes());
            let headers = rdr
                .headers()
                .map_err(|e| RuleError::Invalid {
                    path: path.clone(),
                    message: e.to_string(),
                })?
                .clone();
            let want = ["codeset", "label", "points", "match", "code"];
            if headers.iter().collect::<Vec<_>>() != want {
                return Err(RuleError::Invalid {
                    path,
                    message: format!("the header must be `{}`", want.join(",")),
                });
            }
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|e| RuleError::Invalid {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let line = i + 2;
                let points: i64 = row[2].trim().parse().map_err(|_| RuleError::Invalid {
                    path: path.clone(),
                    message: format!("line {line}: points `{}` is not a whole number", &row[2]),
                })?;
                add(
                    row[0].trim(),
                    row[1].trim(),
                    points,
                    row[3].trim(),
                    row[4].trim(),
                )
                .map_err(|m| RuleError::Invalid {
                    path: path.clone(),
                    message: format!("line {line}: {m}"),
                })?;
            }
        }
        for s in &file.codesets.inline {
            for c in &s.codes {
                add(&s.id, &s.label, s.points, &s.r#match, c).map_err(|m| RuleError::Invalid {
                    path: self.path.to_path_buf(),
                    message: m,
                })?;
            }
        }
        self.codesets = order
            .into_iter()
            .filter_map(|id| sets.remove(&id))
            .collect();
        Ok(())
    }

    fn parse_at(&self, src: &str, span: &Range<usize>) -> R<Ast> {
        expr::parse(src).map_err(|e| self.at(shift(span, e.span.start, e.span.end), e.message))
    }

    fn parse_spanned(&self, s: &Spanned<String>) -> R<(Ast, Range<usize>)> {
        let span = inner_span(self.text, s);
        Ok((self.parse_at(s.get_ref(), &span)?, span))
    }

    /// Parses and lowers a boolean condition.
    fn condition(&self, s: &Spanned<String>, scope: Scope) -> R<Expr> {
        let (ast, span) = self.parse_spanned(s)?;
        let (e, ty) = self.lower(&ast, scope, &span)?;
        if ty != Ty::Bool {
            return Err(self.at(
                shift(&span, ast.span.start, ast.span.end),
                format!(
                    "expected a condition (true/false), found a value of type {}",
                    ty.name()
                ),
            ));
        }
        Ok(e)
    }

    fn feature(&self, name: &str, def: &super::ruleset::FeatureDef) -> R<Feature> {
        let table = def.from.get_ref().as_str();
        let Some(cols) = table_columns(table) else {
            let names: Vec<&str> = contract::TABLES.iter().map(|t| t.name).collect();
            return Err(self.at(
                def.from.span(),
                format!(
                    "unknown table `{table}`: expected one of {}",
                    names.join(", ")
                ),
            ));
        };
        let table: &'static str = contract::table(table).map(|t| t.name).unwrap_or("persons");
        if table == "persons" {
            return Err(self.at(
                def.from.span(),
                "features read event tables; persons' columns are used directly by name",
            ));
        }
        let scope = Scope::Table(table);
        let filter = def
            .filter
            .as_ref()
            .map(|w| self.condition(w, scope))
            .transpose()?;
        let (ast, span) = self.parse_spanned(&def.agg)?;
        let ExprKind::Call {
            name: fname, args, ..
        } = &ast.kind
        else {
            return Err(self.at(span, "`agg` takes one of count(), any(), count_distinct(x), min(x), max(x), sum(x), latest(x), codesets(x)"));
        };
        let arg = |i: usize| -> R<(Expr, Ty)> {
            match args.get(i) {
                Some(a) => self.lower(a, scope, &span),
                None => Err(self.at(span.clone(), format!("`{fname}` takes one argument"))),
            }
        };
        let arity = |n: usize| -> R<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.at(
                    span.clone(),
                    format!("`{fname}` takes {n} argument(s), found {}", args.len()),
                ))
            }
        };
        let (agg, ty) = match fname.as_str() {
            "count" => {
                arity(0)?;
                (Agg::Count, Ty::Int)
            }
            "any" => {
                arity(0)?;
                (Agg::Any, Ty::Bool)
            }
            "count_distinct" => {
                arity(1)?;
                (Agg::CountDistinct(arg(0)?.0), Ty::Int)
            }
            "min" | "max" | "sum" => {
                arity(1)?;
                let (e, t) = arg(0)?;
                if fname == "sum" && !t.is_numeric() {
                    return Err(self.at(span, format!("`sum` needs a number, found {}", t.name())));
                }
                let agg = match fname.as_str() {
                    "min" => Agg::Min(e),
                    "max" => Agg::Max(e),
                    _ => Agg::Sum(e),
                };
                (agg, t)
            }
            "latest" => {
                arity(1)?;
                let (e, t) = arg(0)?;
                let Some(keys) = &def.order_by else {
                    return Err(self.at(span, "`latest` needs `order_by = [\"column\", \"tie-break column\"]`: the latest row is the last in that order"));
                };
                let mut order_by = Vec::new();
                for k in keys {
                    let (a, ks) = self.parse_spanned(k)?;
                    order_by.push(self.lower(&a, scope, &ks)?.0);
                }
                (Agg::Latest { value: e, order_by }, t)
            }
            "codesets" => {
                arity(1)?;
                let (e, t) = arg(0)?;
                if t != Ty::Str {
                    return Err(self.at(span, "`codesets` needs a text column of codes"));
                }
                if self.codesets.is_empty() {
                    return Err(self.at(span, "`codesets` needs code sets: add [codesets] file = … or [[codesets.inline]]"));
                }
                (
                    Agg::CodeSets {
                        column: e,
                        sets: self.codesets.clone(),
                    },
                    Ty::Int,
                )
            }
            other => {
                return Err(self.at(
                    span,
                    format!("unknown aggregation `{other}`: expected count(), any(), count_distinct(x), min(x), max(x), sum(x), latest(x) or codesets(x)"),
                ));
            }
        };
        if def.order_by.is_some() && !matches!(agg, Agg::Latest { .. }) {
            return Err(self.at(def.agg.span(), "`order_by` goes with `latest(…)` only"));
        }
        let mut columns = BTreeSet::new();
        let mut collect = |e: &Expr| collect_cols(e, &mut columns);
        if let Some(f) = &filter {
            collect(f);
        }
        match &agg {
            Agg::CountDistinct(e) | Agg::Min(e) | Agg::Max(e) | Agg::Sum(e) => collect(e),
            Agg::Latest { value, order_by } => {
                collect(value);
                order_by.iter().for_each(&mut collect);
            }
            Agg::CodeSets { column, .. } => collect(column),
            Agg::Count | Agg::Any => {}
        }
        let _ = cols;
        Ok(Feature {
            name: name.to_string(),
            label: def.label.clone().unwrap_or_else(|| name.to_string()),
            table: table.to_string(),
            filter,
            agg,
            ty,
            columns: columns.into_iter().collect(),
        })
    }

    fn derived(&mut self, file: &RuleFile) -> R<Vec<(String, Expr)>> {
        // Order by dependencies; a name used before it can be computed is a cycle.
        let mut pending: Vec<(&Spanned<String>, Ast, Range<usize>)> = Vec::new();
        for (name, text) in &file.derived {
            if self.person.contains_key(name.get_ref()) {
                return Err(self.at(
                    name.span(),
                    format!(
                        "`{}` is already a person column or a feature",
                        name.get_ref()
                    ),
                ));
            }
            let (ast, span) = self.parse_spanned(text)?;
            pending.push((name, ast, span));
        }
        let names: BTreeSet<String> = pending
            .iter()
            .map(|(n, _, _)| n.get_ref().clone())
            .collect();
        let mut out = Vec::new();
        while !pending.is_empty() {
            let ready = pending.iter().position(|(_, ast, _)| {
                let mut ok = true;
                ast.walk(&mut |n| {
                    if let ExprKind::Ident(p) = &n.kind
                        && p.len() == 1
                        && names.contains(&p[0])
                        && !self.person.contains_key(&p[0])
                    {
                        ok = false;
                    }
                });
                ok
            });
            let Some(i) = ready else {
                let (name, _, _) = &pending[0];
                let cycle: Vec<String> = pending
                    .iter()
                    .map(|(n, _, _)| n.get_ref().clone())
                    .collect();
                return Err(self.at(
                    name.span(),
                    format!(
                        "a cycle between derived values: {} depend on each other",
                        cycle.join(", ")
                    ),
                ));
            };
            let (name, ast, span) = pending.remove(i);
            let (e, ty) = self.lower(&ast, Scope::Person, &span)?;
            self.person.insert(name.get_ref().clone(), ty);
            out.push((name.get_ref().clone(), e));
        }
        Ok(out)
    }

    fn criterion(&self, c: &CriterionDef) -> R<Condition> {
        Ok(Condition {
            id: c.id.get_ref().clone(),
            label: c.label.clone(),
            when: self.condition(&c.when, Scope::Person)?,
            reason: None,
        })
    }

    fn cohort(&self, c: &CohortDef) -> R<Condition> {
        Ok(Condition {
            id: c.id.get_ref().clone(),
            label: c.label.clone(),
            when: self.condition(&c.when, Scope::Person)?,
            reason: c.reason.as_ref().map(|r| self.reason(r)).transpose()?,
        })
    }

    /// A reason template: text with `{expression}` parts.
    fn reason(&self, r: &Spanned<String>) -> R<Vec<ReasonPart>> {
        let span = inner_span(self.text, r);
        let s = r.get_ref();
        let mut parts = Vec::new();
        let mut rest = 0;
        while let Some(open) = s[rest..].find('{') {
            let open = rest + open;
            if open > rest {
                parts.push(ReasonPart::Text(s[rest..open].to_string()));
            }
            let Some(close) = s[open..].find('}') else {
                return Err(self.at(
                    shift(&span, open, open + 1),
                    "unclosed `{` in the reason: close it with `}`",
                ));
            };
            let close = open + close;
            let inner = shift(&span, open + 1, close);
            let ast = self.parse_at(&s[open + 1..close], &inner)?;
            let (e, _) = self.lower(&ast, Scope::Person, &inner)?;
            parts.push(ReasonPart::Value(Expr::Text(Box::new(e))));
            rest = close + 1;
        }
        if rest < s.len() {
            parts.push(ReasonPart::Text(s[rest..].to_string()));
        }
        Ok(parts)
    }

    fn points(&self, p: &Spanned<Points>) -> R<Expr> {
        match p.get_ref() {
            Points::Int(v) => Ok(Expr::Lit(Value::Int(*v), Ty::Int)),
            Points::Expr(s) => {
                let span = p.span();
                let inner = (span.start + 1)..(span.end.saturating_sub(1)).max(span.start + 1);
                let ast = self.parse_at(s, &inner)?;
                let (e, ty) = self.lower(&ast, Scope::Person, &inner)?;
                if ty != Ty::Int {
                    return Err(self.at(
                        inner,
                        format!("points must be a whole number, found {}", ty.name()),
                    ));
                }
                Ok(e)
            }
        }
    }

    fn score(&self, s: &super::ruleset::ScoreDef) -> R<ScoreTerm> {
        let span = s.id.span();
        let rule = match (&s.when, &s.points, &s.bands, &s.per_codeset) {
            (Some(w), Some(p), None, None) => ScoreRule::Points {
                when: self.condition(w, Scope::Person)?,
                points: self.points(p)?,
            },
            (None, None, Some(bands), None) => {
                let mut out = Vec::new();
                for b in bands {
                    out.push((
                        self.condition(&b.when, Scope::Person)?,
                        self.points(&b.points)?,
                    ));
                }
                ScoreRule::Bands {
                    bands: out,
                    only_if: s
                        .only_if
                        .as_ref()
                        .map(|c| self.condition(c, Scope::Person))
                        .transpose()?,
                }
            }
            (None, None, None, Some(f)) => match self.codeset_features.get(f.get_ref()) {
                Some(sets) => ScoreRule::PerCodeSet {
                    feature: f.get_ref().clone(),
                    sets: sets.clone(),
                },
                None => {
                    return Err(self.at(
                        f.span(),
                        format!(
                            "`{}` is not a feature with `agg = \"codesets(…)\"`",
                            f.get_ref()
                        ),
                    ));
                }
            },
            _ => {
                return Err(self.at(span, "a score term takes `when` and `points`, or `bands` (with an optional `only_if`), or `per_codeset`"));
            }
        };
        if s.only_if.is_some() && !matches!(rule, ScoreRule::Bands { .. }) {
            return Err(self.at(span, "`only_if` goes with `bands` only"));
        }
        Ok(ScoreTerm {
            id: s.id.get_ref().clone(),
            label: s.label.clone(),
            rule,
            reason: s.reason.as_ref().map(|r| self.reason(r)).transpose()?,
        })
    }

    /// Lowers an expression in `scope`; `at` is the span of its source text in the file.
    fn lower(&self, a: &Ast, scope: Scope, at: &Range<usize>) -> R<(Expr, Ty)> {
        let here = |x: &Ast| shift(at, x.span.start, x.span.end);
        let sub = |x: &Ast| self.lower(x, scope, at);
        Ok(match &a.kind {
            ExprKind::Int(v) => (Expr::Lit(Value::Int(*v), Ty::Int), Ty::Int),
            ExprKind::Float(v) => (Expr::Lit(Value::Float(*v), Ty::Float), Ty::Float),
            ExprKind::Str(s) => (Expr::Lit(Value::Str(s.clone()), Ty::Str), Ty::Str),
            ExprKind::Bool(b) => (Expr::Lit(Value::Bool(*b), Ty::Bool), Ty::Bool),
            ExprKind::Null => {
                return Err(self.at(
                    here(a),
                    "`null` is only used as `x is null` / `x is not null`",
                ));
            }
            ExprKind::Ident(path) => self.name(path, scope, here(a))?,
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => {
                let (e, t) = sub(expr)?;
                if t != Ty::Bool {
                    return Err(self.at(
                        here(expr),
                        format!("`not` needs a condition, found {}", t.name()),
                    ));
                }
                (Expr::Not(Box::new(e)), Ty::Bool)
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => {
                let (e, t) = sub(expr)?;
                if !t.is_numeric() {
                    return Err(self.at(
                        here(expr),
                        format!("`-` needs a number, found {}", t.name()),
                    ));
                }
                match e {
                    Expr::Lit(Value::Int(v), _) => (Expr::Lit(Value::Int(-v), Ty::Int), t),
                    Expr::Lit(Value::Float(v), _) => (Expr::Lit(Value::Float(-v), Ty::Float), t),
                    e => (
                        Expr::Arith(
                            Arith::Sub,
                            Box::new(Expr::Lit(Value::Int(0), Ty::Int)),
                            Box::new(e),
                        ),
                        t,
                    ),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, lt) = sub(lhs)?;
                let (r, rt) = sub(rhs)?;
                match op {
                    BinOp::And | BinOp::Or => {
                        for (x, t) in [(lhs, lt), (rhs, rt)] {
                            if t != Ty::Bool {
                                return Err(self.at(
                                    here(x),
                                    format!(
                                        "`{}` needs conditions on both sides, found {}",
                                        op.symbol(),
                                        t.name()
                                    ),
                                ));
                            }
                        }
                        let e = if *op == BinOp::And {
                            Expr::And(Box::new(l), Box::new(r))
                        } else {
                            Expr::Or(Box::new(l), Box::new(r))
                        };
                        (e, Ty::Bool)
                    }
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                        if !lt.is_numeric() || !rt.is_numeric() {
                            return Err(self.at(
                                here(a),
                                format!(
                                    "`{}` needs numbers, found {} and {}",
                                    op.symbol(),
                                    lt.name(),
                                    rt.name()
                                ),
                            ));
                        }
                        let ar = match op {
                            BinOp::Add => Arith::Add,
                            BinOp::Sub => Arith::Sub,
                            BinOp::Mul => Arith::Mul,
                            _ => Arith::Div,
                        };
                        let t = if lt == Ty::Float || rt == Ty::Float || ar == Arith::Div {
                            Ty::Float
                        } else {
                            Ty::Int
                        };
                        (Expr::Arith(ar, Box::new(l), Box::new(r)), t)
                    }
                    _ => {
                        let comparable = lt == rt || (lt.is_numeric() && rt.is_numeric());
                        if !comparable || lt == Ty::StrList {
                            return Err(self.at(
                                here(a),
                                format!("cannot compare {} with {}", lt.name(), rt.name()),
                            ));
                        }
                        let c = match op {
                            BinOp::Eq => Cmp::Eq,
                            BinOp::Ne => Cmp::Ne,
                            BinOp::Lt => Cmp::Lt,
                            BinOp::Le => Cmp::Le,
                            BinOp::Gt => Cmp::Gt,
                            _ => Cmp::Ge,
                        };
                        (Expr::Cmp(c, Box::new(l), Box::new(r)), Ty::Bool)
                    }
                }
            }
            ExprKind::IsNull { expr, negated } => {
                let (e, _) = sub(expr)?;
                (Expr::IsNull(Box::new(e), *negated), Ty::Bool)
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let (e, t) = sub(expr)?;
                let mut values = Vec::new();
                for x in list {
                    match sub(x)? {
                        (Expr::Lit(Value::StrList(l), _), _) if t == Ty::Str => {
                            values.extend(l.into_iter().map(Value::Str))
                        }
                        (Expr::Lit(v, vt), _) if vt == t || (vt.is_numeric() && t.is_numeric()) => {
                            values.push(v)
                        }
                        (_, vt) => {
                            return Err(self.at(here(x), format!("the list after `in` must hold constants of the type of the left side ({}), found {}", t.name(), vt.name())));
                        }
                    }
                }
                (Expr::In(Box::new(e), values, *negated), Ty::Bool)
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(
                name,
                shift(at, name_span.start, name_span.end),
                args,
                scope,
                at,
                here(a),
            )?,
        })
    }

    fn name(&self, path: &[String], scope: Scope, span: Range<usize>) -> R<(Expr, Ty)> {
        let full = path.join(".");
        if path.len() == 2 && path[0] == "params" {
            return match self.params.get(&path[1]) {
                Some((v, t)) => Ok((Expr::Lit(v.clone(), *t), *t)),
                None => {
                    let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
                    Err(self.at(
                        span,
                        format!("unknown parameter `{full}`{}", suggest(&path[1], &known)),
                    ))
                }
            };
        }
        if full == "R" {
            return Ok((Expr::Lit(Value::Date(self.as_of), Ty::Date), Ty::Date));
        }
        match scope {
            Scope::Table(t) => {
                let cols = table_columns(t).unwrap_or_default();
                match cols.iter().find(|(c, _)| *c == full) {
                    Some((c, ty)) => Ok((Expr::Col(c.clone()), *ty)),
                    None => {
                        let known: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
                        Err(self.at(
                            span,
                            format!(
                                "unknown column `{full}` of table `{t}`{}",
                                suggest(&full, &known)
                            ),
                        ))
                    }
                }
            }
            Scope::Person => {
                if path.len() == 2
                    && let Some(sets) = self.codeset_features.get(&path[0])
                {
                    return match sets.iter().find(|s| s.id == path[1]) {
                        Some(s) => Ok((Expr::Col(codeset_column(&path[0], &s.id)), Ty::Bool)),
                        None => Err(self.at(
                            span,
                            format!("`{}` holds no code set `{}`", path[0], path[1]),
                        )),
                    };
                }
                match self.person.get(&full) {
                    Some(t) => Ok((Expr::Col(full), *t)),
                    None => {
                        let known: Vec<&str> = self.person.keys().map(String::as_str).collect();
                        Err(self.at(span, format!("unknown name `{full}`: not a person column, feature or derived value{}", suggest(&full, &known))))
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        name: &str,
        name_span: Range<usize>,
        args: &[Ast],
        scope: Scope,
        at: &Range<usize>,
        whole: Range<usize>,
    ) -> R<(Expr, Ty)> {
        let arity = |n: usize| -> R<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.at(
                    whole.clone(),
                    format!("`{name}` takes {n} argument(s), found {}", args.len()),
                ))
            }
        };
        let typed = |i: usize, want: Ty| -> R<Expr> {
            let (e, t) = self.lower(&args[i], scope, at)?;
            if t != want && !(want == Ty::Float && t == Ty::Int) {
                return Err(self.at(
                    shift(at, args[i].span.start, args[i].span.end),
                    format!("`{name}` needs a {} here, found {}", want.name(), t.name()),
                ));
            }
            Ok(e)
        };
        let constant_int = |i: usize| -> R<i64> {
            match typed(i, Ty::Int)? {
                Expr::Lit(Value::Int(v), _) => Ok(v),
                _ => Err(self.at(
                    shift(at, args[i].span.start, args[i].span.end),
                    format!("`{name}` needs a constant here (a number or a parameter)"),
                )),
            }
        };
        let date_lit = |d: NaiveDate| Expr::Lit(Value::Date(d), Ty::Date);
        let month_start =
            NaiveDate::from_ymd_opt(self.as_of.year(), self.as_of.month(), 1).unwrap_or(self.as_of);
        Ok(match name {
            "last_days" => {
                arity(2)?;
                let d = typed(0, Ty::Date)?;
                let n = constant_int(1)?;
                if n < 0 {
                    return Err(self.at(
                        whole,
                        format!("bad window: `last_days` needs 0 or more days, found {n}"),
                    ));
                }
                (
                    window(
                        d,
                        Cmp::Gt,
                        self.as_of - chrono::Duration::days(n),
                        self.as_of,
                    ),
                    Ty::Bool,
                )
            }
            "in_months" => {
                arity(2)?;
                let d = typed(0, Ty::Date)?;
                let k = constant_int(1)?;
                if !(0..=1200).contains(&k) {
                    return Err(self.at(
                        whole,
                        format!("bad window: `in_months` needs 0 to 1200 months before, found {k}"),
                    ));
                }
                (
                    window(d, Cmp::Ge, month_start - Months::new(k as u32), self.as_of),
                    Ty::Bool,
                )
            }
            "month_start" => {
                arity(1)?;
                match typed(0, Ty::Date)? {
                    Expr::Lit(Value::Date(d), _) => (
                        date_lit(NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)),
                        Ty::Date,
                    ),
                    _ => {
                        return Err(self.at(whole, "`month_start` takes a constant date such as R"));
                    }
                }
            }
            "date" => {
                arity(1)?;
                match &args[0].kind {
                    ExprKind::Str(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                        Ok(d) => (date_lit(d), Ty::Date),
                        Err(_) => {
                            return Err(self.at(
                                whole,
                                format!("`{s}` is not a date: write date('YYYY-MM-DD')"),
                            ));
                        }
                    },
                    _ => {
                        return Err(
                            self.at(whole, "`date` takes a text literal: date('YYYY-MM-DD')")
                        );
                    }
                }
            }
            "days_between" => {
                arity(2)?;
                (
                    Expr::DaysBetween(Box::new(typed(0, Ty::Date)?), Box::new(typed(1, Ty::Date)?)),
                    Ty::Int,
                )
            }
            "year" => {
                arity(1)?;
                (Expr::Year(Box::new(typed(0, Ty::Date)?)), Ty::Int)
            }
            "if" => {
                arity(3)?;
                let c = typed(0, Ty::Bool)?;
                let (a, at_) = self.lower(&args[1], scope, at)?;
                let (b, bt) = self.lower(&args[2], scope, at)?;
                if at_ != bt && !(at_.is_numeric() && bt.is_numeric()) {
                    return Err(self.at(
                        whole,
                        format!(
                            "`if` needs both branches of one type, found {} and {}",
                            at_.name(),
                            bt.name()
                        ),
                    ));
                }
                (Expr::If(Box::new(c), Box::new(a), Box::new(b)), at_)
            }
            "starts_with" => {
                arity(2)?;
                let e = typed(0, Ty::Str)?;
                let prefixes = match self.lower(&args[1], scope, at)? {
                    (Expr::Lit(Value::Str(s), _), _) => vec![s],
                    (Expr::Lit(Value::StrList(l), _), _) => l,
                    _ => {
                        return Err(self.at(
                            whole,
                            "`starts_with` takes a constant text or list of texts",
                        ));
                    }
                };
                (Expr::StartsWithAny(Box::new(e), prefixes), Ty::Bool)
            }
            other => {
                let known = [
                    "last_days",
                    "in_months",
                    "month_start",
                    "date",
                    "days_between",
                    "year",
                    "if",
                    "starts_with",
                ];
                return Err(self.at(
                    name_span,
                    format!("unknown function `{other}`{}", suggest(other, &known)),
                ));
            }
        })
    }
}

/// `from (op) d and d <= to`: a date window ending at the reference date.
fn window(d: Expr, op: Cmp, from: NaiveDate, to: NaiveDate) -> Expr {
    let lit = |x: NaiveDate| Box::new(Expr::Lit(Value::Date(x), Ty::Date));
    Expr::And(
        Box::new(Expr::Cmp(op, Box::new(d.clone()), lit(from))),
        Box::new(Expr::Cmp(Cmp::Le, Box::new(d), lit(to))),
    )
}

/// The person-frame column holding a code-set flag of a `codesets` feature.
pub fn codeset_column(feature: &str, set: &str) -> String {
    format!("{feature}.{set}")
}

fn toml_date(d: &toml::value::Datetime) -> Option<NaiveDate> {
    let date = d.date?;
    if d.time.is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32)
}

fn collect_cols(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Col(c) => {
            out.insert(c.clone());
        }
        Expr::Lit(..) => {}
        Expr::Not(x)
        | Expr::IsNull(x, _)
        | Expr::In(x, _, _)
        | Expr::Year(x)
        | Expr::StartsWithAny(x, _)
        | Expr::Text(x) => collect_cols(x, out),
        Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Cmp(_, a, b)
        | Expr::Arith(_, a, b)
        | Expr::DaysBetween(a, b) => {
            collect_cols(a, out);
            collect_cols(b, out);
        }
        Expr::If(a, b, c) => {
            collect_cols(a, out);
            collect_cols(b, out);
            collect_cols(c, out);
        }
    }
}

/// ": did you mean `x`?" for the closest known name, when one is close.
fn suggest(name: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2.max(name.len() / 4))
        .min();
    match best {
        Some((_, k)) => format!(": did you mean `{k}`?"),
        None => String::new(),
    }
}
