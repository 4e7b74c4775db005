//! balgul (발굴, "finding"): a batch engine that finds the people Korea's integrated-care
//! programme (의료·돌봄 통합지원) should reach, from anonymised claims and long-term-care
//! extracts.
//!
//! The library holds the engine; `main.rs` is a thin command line over it.
//! - [`contract`]: the input tables, as data.
//! - [`extract`]: finding, checking and scanning an extract's tables (with column mapping).
//! - [`validate`]: row-level checks of an extract against the contract.
//! - [`rules`]: the rule language — expressions, rule files, the checker.
//! - [`ir`]: the typed intermediate representation a rule set compiles to.
//! - [`plan`]: the IR lowered to one Polars lazy plan.
//! - [`screen`]: a screening run — counts, attrition, ranking and the cap.
//! - [`export`]: the municipal lists and candidates file, written atomically.
//! - [`manifest`]: the run's record.
//! - [`report`]: console summaries (funnel, cohorts, municipalities).
//! - [`explain`]: one person, clause by clause.
//! - [`ruletest`]: `balgul test` — rule tests with tiny inline extracts and expected outcomes.
//! - [`diff`]: two rule sets compared on one extract — entrants, leavers and their causes.
//! - [`synth`]: deterministic synthetic extracts at any scale.
//! - [`diag`]: located diagnostics for rule and mapping files.

pub mod contract;
pub mod diag;
pub mod diff;
pub mod explain;
pub mod export;
pub mod extract;
pub mod gates;
pub mod ir;
pub mod manifest;
pub mod plan;
pub mod report;
pub mod rules;
pub mod ruletest;
pub mod screen;
pub mod synth;
pub mod validate;
