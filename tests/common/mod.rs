//! Tiny hand-built extracts for tests: every table as CSV text, written to a temporary
//! directory, in any of the three forms the contract allows.
#![allow(dead_code)]

pub mod build;

/// Runs the `balgul` binary with `args` (no colour).
pub fn balgul(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_balgul"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// A finished command's stdout then stderr, as text.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

use std::collections::BTreeMap;
use std::path::Path;

use balgul::extract::Extract;
use polars::prelude::*;

pub const PERSONS: &str =
    "person_id,birth_year,sex,sgg_code,insurance_type,income_decile,disability,death_date
P1,1950,F,11110,NHI,3,false,
P2,1941,M,45110,MA1,,true,
P3,1960,F,,NHI,10,false,2026-05-02
";
pub const CLAIMS: &str =
    "claim_id,person_id,provider_id,provider_kind,care_type,start_date,end_date,cost_krw
C1,P1,H1,01,IN,2026-09-01,2026-09-20,3000000
C2,P1,H2,31,OUT,2026-10-02,2026-10-02,25000
C3,P2,H3,28,IN,2026-10-10,,900000
";
pub const DIAGNOSES: &str = "claim_id,person_id,dx_code,dx_order
C1,P1,S7200,1
C1,P1,I10,2
C3,P2,F001,1
";
pub const PRESCRIPTIONS: &str = "claim_id,person_id,ingredient_code,start_date,days_supply
C2,P1,101301ATB,2026-10-02,30
";
pub const LTC_ASSESSMENTS: &str =
    "application_id,person_id,application_date,status,decision_date,grade,score,valid_until
A1,P2,2026-01-05,DECIDED,2026-02-10,4,55.5,2028-02-09
A2,P1,2026-10-20,PENDING,,,,
";
pub const LTC_SERVICES: &str = "person_id,service_month,service_type,days,cost_krw
P2,2026-09-01,HOME_CARE,20,1200000
";
pub const PROGRAM_HISTORY: &str = "person_id,sgg_code,event_month,status
P1,11110,2026-06-01,SENT
";

/// The tables of the tiny extract, by contract name.
pub fn tiny() -> BTreeMap<&'static str, String> {
    [
        ("persons", PERSONS),
        ("claims", CLAIMS),
        ("diagnoses", DIAGNOSES),
        ("prescriptions", PRESCRIPTIONS),
        ("ltc_assessments", LTC_ASSESSMENTS),
        ("ltc_services", LTC_SERVICES),
        ("program_history", PROGRAM_HISTORY),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// Writes tables as `NAME.csv` into `dir`, with an `extract.toml` holding `as_of`.
pub fn write_csv(dir: &Path, tables: &BTreeMap<&'static str, String>, as_of: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in tables {
        std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
    }
    if let Some(d) = as_of {
        std::fs::write(dir.join("extract.toml"), format!("as_of = \"{d}\"\n")).unwrap();
    }
}

/// Reads a CSV table through the loader (so it has contract dtypes) and collects it.
pub fn frame_of(dir: &Path, table: &str) -> DataFrame {
    Extract::open(dir).unwrap().lazy(table).collect().unwrap()
}

/// Writes a frame as one Parquet file.
pub fn write_parquet(path: &Path, df: &DataFrame) {
    let mut df = df.clone();
    let f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(f).finish(&mut df).unwrap();
}

/// A table's entry of the manifest's `rows_set_aside` as (rule, rows) pairs, in its order.
pub fn rules_rows(table: &serde_json::Value) -> Vec<(String, u64)> {
    table["rules_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}
