//! balgul (발굴, "finding"): a batch engine that finds the people Korea's integrated-care
//! programme (의료·돌봄 통합지원) should reach, from anonymised claims and long-term-care
//! extracts.
//!
//! The library holds the engine; `main.rs` is a thin command line over it.
//! - [`contract`]: the input tables, as data.
//! - [`extract`]: finding, checking and scanning an extract's tables (with column mapping).
//! - [`synth`]: deterministic synthetic extracts at any scale.
//! - [`validate`]: row-level checks of an extract against the contract.

pub mod contract;
pub mod diag;
pub mod extract;
pub mod rules;
pub mod synth;
pub mod validate;
