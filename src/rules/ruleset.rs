//! The rule file as written: TOML deserialised with spans, unknown keys rejected.
//! [`crate::rules::check`] turns it into the typed intermediate representation.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub ruleset: Meta,
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<ParamDef>>,
    #[serde(default)]
    pub codesets: CodeSetsDef,
    #[serde(default)]
    pub features: BTreeMap<Spanned<String>, FeatureDef>,
    #[serde(default)]
    pub derived: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub base: Vec<CriterionDef>,
    #[serde(default)]
    pub cohort: Vec<CohortDef>,
    #[serde(default)]
    pub suppress: Vec<CriterionDef>,
    #[serde(default)]
    pub score: Vec<ScoreDef>,
    pub ranking: RankingDef,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub reference: String,
}

/// A parameter: one value, or values by the date from which they apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    pub value: Option<ParamValue>,
    pub values: Option<Vec<DatedValue>>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatedValue {
    pub from: toml::value::Datetime,
    pub value: ParamValue,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
    Date(toml::value::Datetime),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSetsDef {
    /// A CSV file (relative to the rule file) with columns codeset,label,points,match,code.
    pub file: Option<String>,
    #[serde(default)]
    pub inline: Vec<InlineCodeSet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineCodeSet {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub points: i64,
    /// `prefix` (default) or `exact`.
    #[serde(default = "prefix")]
    pub r#match: String,
    pub codes: Vec<String>,
}

fn prefix() -> String {
    "prefix".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    pub label: Option<String>,
    pub from: Spanned<String>,
    #[serde(rename = "where")]
    pub filter: Option<Spanned<String>>,
    pub agg: Spanned<String>,
    pub order_by: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionDef {
    pub id: Spanned<String>,
    pub label: String,
    pub when: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortDef {
    pub id: Spanned<String>,
    pub label: String,
    pub when: Spanned<String>,
    pub reason: Option<Spanned<String>>,
}

/// Points: a whole number or an expression (`params.pts_er`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Points {
    Int(i64),
    Expr(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandDef {
    pub when: Spanned<String>,
    pub points: Spanned<Points>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreDef {
    pub id: Spanned<String>,
    pub label: String,
    pub when: Option<Spanned<String>>,
    pub points: Option<Spanned<Points>>,
    pub bands: Option<Vec<BandDef>>,
    pub only_if: Option<Spanned<String>>,
    pub per_codeset: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingDef {
    pub cap: Spanned<Points>,
    /// Sort keys within a municipality; default `["score desc", "person_id"]`.
    pub order_by: Option<Vec<Spanned<String>>>,
}
