//! The typed intermediate representation of a rule set: what to compute, with every name
//! resolved, every parameter replaced by its value at R, every type checked. It knows
//! nothing of Polars: [`crate::plan`] lowers it to a lazy query, and a second backend (SQL)
//! would lower the same IR.

use chrono::NaiveDate;

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Date,
    /// A list literal (only on the right of `in`).
    StrList,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Str => "text",
            Ty::Date => "date",
            Ty::StrList => "list of text",
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Date(NaiveDate),
    StrList(Vec<String>),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// An expression over the columns of one frame (a table's rows, or the person frame).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value, Ty),
    Col(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    /// `x in (…)`; the list holds literals.
    In(Box<Expr>, Vec<Value>, bool),
    /// `if(c, a, b)`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Whole days from the first date to the second.
    DaysBetween(Box<Expr>, Box<Expr>),
    /// Year of a date.
    Year(Box<Expr>),
    /// Text starts with any of the prefixes.
    StartsWithAny(Box<Expr>, Vec<String>),
    /// A value as text, for explanations.
    Text(Box<Expr>),
}

impl Expr {
    /// The names of the columns the expression reads, in first-use order, without repeats.
    pub fn columns(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Lit(..) => {}
                Expr::Col(c) => {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
                Expr::Not(x)
                | Expr::IsNull(x, _)
                | Expr::In(x, _, _)
                | Expr::Year(x)
                | Expr::StartsWithAny(x, _)
                | Expr::Text(x) => walk(x, out),
                Expr::And(a, b)
                | Expr::Or(a, b)
                | Expr::Cmp(_, a, b)
                | Expr::Arith(_, a, b)
                | Expr::DaysBetween(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::If(c, a, b) => {
                    walk(c, out);
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// How a feature aggregates its table's rows per person.
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    /// Number of rows.
    Count,
    /// Whether any row exists.
    Any,
    CountDistinct(Expr),
    Min(Expr),
    Max(Expr),
    Sum(Expr),
    /// The value of the last row when ordered ascending by the keys.
    Latest {
        value: Expr,
        order_by: Vec<Expr>,
    },
    /// The code sets held: the count of distinct sets, plus one flag per set.
    CodeSets {
        column: Expr,
        sets: Vec<CodeSet>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CodeSet {
    pub id: String,
    pub label: String,
    pub points: i64,
    pub prefixes: Vec<String>,
    pub exact: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub label: String,
    /// The contract table it reads.
    pub table: String,
    /// Rows that count (None = all rows dated up to R).
    pub filter: Option<Expr>,
    pub agg: Agg,
    pub ty: Ty,
    /// The columns of its table it reads.
    pub columns: Vec<String>,
}

impl Feature {
    /// The value a person with no matching row gets.
    pub fn empty_is_zero(&self) -> bool {
        matches!(
            self.agg,
            Agg::Count | Agg::Any | Agg::CountDistinct(_) | Agg::CodeSets { .. }
        )
    }
}

/// A named condition (base criterion, cohort, suppression rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub id: String,
    pub label: String,
    pub when: Expr,
    /// A Korean explanation template: literal text and expressions, concatenated.
    pub reason: Option<Vec<ReasonPart>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReasonPart {
    Text(String),
    Value(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScoreRule {
    /// `points` when `when` holds.
    Points { when: Expr, points: Expr },
    /// The points of the first band that holds, when `only_if` holds.
    Bands {
        bands: Vec<(Expr, Expr)>,
        only_if: Option<Expr>,
    },
    /// The points of every code set the feature holds.
    PerCodeSet { feature: String, sets: Vec<CodeSet> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTerm {
    pub id: String,
    pub label: String,
    pub rule: ScoreRule,
    pub reason: Option<Vec<ReasonPart>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

/// A checked rule set, ready to lower.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    pub name: String,
    pub version: String,
    pub title: String,
    /// SHA-256 of the rule file and the code-set files it reads, in hex.
    pub sha256: String,
    pub as_of: NaiveDate,
    /// Parameters as resolved at R: name, value, reference.
    pub params: Vec<(String, Value, Option<String>)>,
    pub features: Vec<Feature>,
    /// Per-person values computed from features and person columns, in dependency order.
    pub derived: Vec<(String, Expr)>,
    pub base: Vec<Condition>,
    pub cohorts: Vec<Condition>,
    pub suppress: Vec<Condition>,
    pub score: Vec<ScoreTerm>,
    pub order_by: Vec<SortKey>,
    pub cap: usize,
}
