//! The rule language: expressions (shared with mapping files), rule files as written, and
//! the checker that turns a rule file into the typed IR ([`crate::ir`]).

pub mod check;
pub mod expr;
pub mod ruleset;

pub use check::{RuleError, check_text, load, load_with_params};
