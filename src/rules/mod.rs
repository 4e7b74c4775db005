//! The rule language: expressions (shared with mapping files), and — next — rule sets.

pub mod expr;
