//! `balgul test`: rule tests an analyst writes next to the rules, as OpenFisca does for
//! benefit rules. A test file holds the rule set it applies to, a reference date and cases;
//! each case is a tiny extract (CSV snippets, one per table) and the outcome expected per
//! person: listed or not, rank, score, cohorts, or the clause that excludes them.
//!
//! ```toml
//! rules = "../default.toml"          # relative to this file
//! as_of = "2026-10-31"
//!
//! [[case]]
//! name = "discharged 60 days before R: in the cohort"
//! [case.tables]
//! persons = """
//! person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date
//! P1,1956,F,11110,NHI,5,false,
//! """
//! claims = """
//! claim_id,person_id,provider_id,provider_kind,care_type,start_date,end_date,cost_krw
//! C1,P1,H1,11,INPATIENT,2026-08-12,2026-09-01,1000000
//! """
//! [[case.expect]]
//! person = "P1"
//! listed = true
//! rank = 1
//! score = 40
//! cohorts = ["RECENT_DISCHARGE"]
//! ```
//!
//! `params = { cap = 2 }` (in the file or in a case) replaces parameters' values, so that a
//! clause can be tested at a small value; an override must name a parameter and keep its type.
//!
//! A table a case leaves out is empty. `excluded_by` names the first clause that keeps a
//! person off the list: a base criterion's id, `no cohort`, a suppression rule's id, or `cap`.
//! A failure prints the expected and the actual outcome with the person's explain trace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Deserialize;

use crate::contract;
use crate::extract::Extract;
use crate::ir::RuleSet;
use crate::plan;
use crate::rules::ruleset::ParamValue;
use crate::screen::{self, Screening};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    /// What the file tests, in words (optional).
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    rules: String,
    as_of: String,
    /// Parameter values that replace the rule set's for every case of the file.
    #[serde(default)]
    params: BTreeMap<String, ParamValue>,
    #[serde(rename = "case")]
    cases: Vec<CaseToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: String,
    /// Overrides the file's reference date.
    #[serde(default)]
    as_of: Option<String>,
    /// Parameter values that replace the rule set's (and the file's) for this case.
    #[serde(default)]
    params: BTreeMap<String, ParamValue>,
    #[serde(default)]
    tables: BTreeMap<String, String>,
    expect: Vec<Expect>,
}

/// What a case expects of one person. Every field but `person` is optional: only what is
/// written is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub person: String,
    #[serde(default)]
    pub listed: Option<bool>,
    #[serde(default)]
    pub rank: Option<u32>,
    #[serde(default)]
    pub score: Option<i64>,
    /// The cohorts the person is in (any order), listed or not.
    #[serde(default)]
    pub cohorts: Option<Vec<String>>,
    /// The first clause that keeps the person off the list.
    #[serde(default)]
    pub excluded_by: Option<String>,
}

/// What a screening says of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actual {
    pub rank: Option<u32>,
    pub score: i64,
    pub cohorts: Vec<String>,
    /// None when listed.
    pub excluded_by: Option<String>,
}

impl Actual {
    fn describe(&self) -> String {
        let where_ = match (self.rank, &self.excluded_by) {
            (Some(r), _) => format!("listed at rank {r}"),
            (None, Some(c)) => format!("not listed (excluded by {c})"),
            (None, None) => "not listed".into(),
        };
        format!(
            "{where_}, score {}, cohorts [{}]",
            self.score,
            self.cohorts.join(", ")
        )
    }
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    /// One entry per failed expectation: the message, then the explain trace.
    pub failures: Vec<String>,
    pub expectations: usize,
}

/// The result of one test file.
#[derive(Debug)]
pub struct FileResult {
    pub path: PathBuf,
    pub cases: Vec<CaseResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}, case `{case}`: {message}", path.display())]
    Case {
        path: PathBuf,
        case: String,
        message: String,
    },
}

/// The test files under `paths` (files as given, directories searched for `*.toml`), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TestError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), TestError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TestError::File {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        for entry in entries {
            let p = entry
                .map_err(|e| TestError::File {
                    path: dir.to_path_buf(),
                    message: e.to_string(),
                })?
                .path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(TestError::File {
                path: p.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn parse_date(s: &str, path: &Path, what: &str) -> Result<NaiveDate, TestError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| TestError::File {
        path: path.to_path_buf(),
        message: format!("{what} = \"{s}\" is not a date: write it as YYYY-MM-DD"),
    })
}

/// A CSV snippet as a file: lines trimmed (so snippets may be indented), blank lines dropped.
fn snippet(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Runs every case of the test file at `path`.
pub fn run_file(path: &Path) -> Result<FileResult, TestError> {
    let file_err = |message: String| TestError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let file: FileToml = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    let rules = path.parent().unwrap_or(Path::new(".")).join(&file.rules);
    let file_as_of = parse_date(&file.as_of, path, "as_of")?;
    let mut cases = Vec::new();
    for case in &file.cases {
        let case_err = |message: String| TestError::Case {
            path: path.to_path_buf(),
            case: case.name.clone(),
            message,
        };
        let as_of = match &case.as_of {
            Some(s) => parse_date(s, path, "as_of")?,
            None => file_as_of,
        };
        for name in case.tables.keys() {
            if contract::table(name).is_none() {
                let known: Vec<&str> = contract::TABLES.iter().map(|t| t.name).collect();
                return Err(case_err(format!(
                    "no table `{name}` in the data contract; the tables are {}",
                    known.join(", ")
                )));
            }
        }
        let dir = tempfile::tempdir().map_err(|e| case_err(e.to_string()))?;
        for t in contract::TABLES {
            let body = match case.tables.get(t.name) {
                Some(s) => snippet(s),
                None => format!("{}\n", t.column_names().collect::<Vec<_>>().join(",")),
            };
            std::fs::write(dir.path().join(format!("{}.csv", t.name)), body)
                .map_err(|e| case_err(e.to_string()))?;
        }
        std::fs::write(
            dir.path().join("extract.toml"),
            format!("as_of = \"{as_of}\"\n"),
        )
        .map_err(|e| case_err(e.to_string()))?;
        // Messages name the case's table, not the temporary file.
        let tmp = dir.path().display().to_string();
        let scrub = |m: String| m.replace(&format!("{tmp}/"), "").replace(&tmp, "");
        let ex = Extract::open(dir.path()).map_err(|e| case_err(scrub(e.to_string())))?;
        let mut overrides = file.params.clone();
        overrides.extend(case.params.clone());
        let rs = crate::rules::load_with_params(&rules, as_of, &overrides).map_err(|e| {
            TestError::File {
                path: path.to_path_buf(),
                message: format!("the rule set {}: {e}", rules.display()),
            }
        })?;
        let s = screen::run(&ex, &rs).map_err(|e| case_err(scrub(e.to_string())))?;
        let mut failures = Vec::new();
        for exp in &case.expect {
            let actual = actual(&s, &rs, &exp.person).map_err(|e| case_err(e.to_string()))?;
            let Some(actual) = actual else {
                failures.push(format!(
                    "{}: no such person in the case's persons table",
                    exp.person
                ));
                continue;
            };
            let wrong = mismatches(exp, &actual);
            if !wrong.is_empty() {
                let trace = crate::explain::explain(&ex, &rs, &exp.person)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let mut m = String::new();
                let _ = writeln!(m, "{}: {}", exp.person, wrong.join("; "));
                let _ = writeln!(m, "  actual: {}", actual.describe());
                let _ = writeln!(m, "  explain:");
                for l in trace.lines() {
                    let _ = writeln!(m, "    {l}");
                }
                failures.push(m);
            }
        }
        cases.push(CaseResult {
            name: case.name.clone(),
            failures,
            expectations: case.expect.len(),
        });
    }
    Ok(FileResult {
        path: path.to_path_buf(),
        cases,
    })
}

fn mismatches(exp: &Expect, a: &Actual) -> Vec<String> {
    let mut v = Vec::new();
    let listed = a.rank.is_some();
    let expect_listed = exp.listed.or(exp.excluded_by.as_ref().map(|_| false));
    if let Some(l) = expect_listed
        && l != listed
    {
        v.push(format!("expected listed = {l}, got {listed}"));
    }
    if let Some(r) = exp.rank
        && a.rank != Some(r)
    {
        v.push(format!(
            "expected rank {r}, got {}",
            a.rank
                .map(|x| x.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    if let Some(sc) = exp.score
        && sc != a.score
    {
        v.push(format!("expected score {sc}, got {}", a.score));
    }
    if let Some(c) = &exp.cohorts {
        let want: BTreeSet<&str> = c.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = a.cohorts.iter().map(String::as_str).collect();
        if want != got {
            v.push(format!(
                "expected cohorts [{}], got [{}]",
                want.into_iter().collect::<Vec<_>>().join(", "),
                got.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(x) = &exp.excluded_by
        && a.excluded_by.as_deref() != Some(x.as_str())
    {
        v.push(format!(
            "expected excluded by {x}, got {}",
            a.excluded_by.as_deref().unwrap_or("nothing (listed)")
        ));
    }
    v
}

fn flag(df: &DataFrame, col_name: &str, i: usize) -> bool {
    df.column(col_name)
        .ok()
        .and_then(|c| c.bool().ok().and_then(|b| b.get(i)))
        .unwrap_or(false)
}

/// What the screening `s` says of `person`, or None when the extract has no such person.
pub fn actual(s: &Screening, rs: &RuleSet, person: &str) -> PolarsResult<Option<Actual>> {
    let f = &s.flags;
    let ids = f.column("person_id")?.str()?;
    let Some(i) = ids.iter().position(|p| p == Some(person)) else {
        return Ok(None);
    };
    let score = f.column(plan::SCORE)?.i64()?.get(i).unwrap_or(0);
    let cohorts: Vec<String> = rs
        .cohorts
        .iter()
        .filter(|c| flag(f, &plan::cohort_col(&c.id), i))
        .map(|c| c.id.clone())
        .collect();
    let l = &s.listed;
    let rank = l
        .column("person_id")?
        .str()?
        .iter()
        .position(|p| p == Some(person))
        .map(|j| l.column("rank").and_then(|c| c.u32().map(|r| r.get(j))))
        .transpose()?
        .flatten();
    let excluded_by = if rank.is_some() {
        None
    } else if let Some(c) = rs.base.iter().find(|c| !flag(f, &plan::base_col(&c.id), i)) {
        Some(c.id.clone())
    } else if cohorts.is_empty() {
        Some("no cohort".into())
    } else if let Some(c) = rs
        .suppress
        .iter()
        .find(|c| flag(f, &plan::suppress_col(&c.id), i))
    {
        Some(c.id.clone())
    } else {
        Some("cap".into())
    };
    Ok(Some(Actual {
        rank,
        score,
        cohorts,
        excluded_by,
    }))
}

/// The results as text: one line per case, failures in full, then a total line.
pub fn render(results: &[FileResult]) -> String {
    let mut o = String::new();
    let (mut cases, mut failed, mut expectations) = (0, 0, 0);
    for r in results {
        let _ = writeln!(o, "{}", r.path.display());
        for c in &r.cases {
            cases += 1;
            expectations += c.expectations;
            if c.failures.is_empty() {
                let _ = writeln!(o, "  ok    {}", c.name);
            } else {
                failed += 1;
                let _ = writeln!(o, "  FAIL  {}", c.name);
                for f in &c.failures {
                    for l in f.lines() {
                        let _ = writeln!(o, "        {l}");
                    }
                }
            }
        }
    }
    let _ = writeln!(
        o,
        "{} files, {cases} cases ({expectations} person expectations): {} passed, {failed} failed",
        results.len(),
        cases - failed
    );
    o
}

/// True when every case of every file passed.
pub fn all_passed(results: &[FileResult]) -> bool {
    results
        .iter()
        .all(|r| r.cases.iter().all(|c| c.failures.is_empty()))
}
