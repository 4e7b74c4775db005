//! `balgul synth`: a deterministic generator of realistic synthetic extracts at any scale.
//!
//! Persons are generated in fixed chunks of [`CHUNK_PERSONS`]; chunk `k` draws from its own
//! random stream (ChaCha8, seeded with `--seed`, stream `k`), so a chunk's content depends
//! only on the arguments and never on the thread count or on which thread ran it. Chunks run
//! in parallel (rayon) a window at a time and are written as they finish: Parquet as one
//! part per chunk (`TABLE/part-00000.parquet` …), CSV appended in chunk order to one file.
//! Memory is bounded by the window, never by the extract.

mod generate;
pub mod model;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;

use crate::contract;
pub use generate::ChunkTables;
use model::{Model, Sgg};

/// Persons per chunk: fixed, so the output does not depend on the machine.
pub const CHUNK_PERSONS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub persons: usize,
    pub seed: u64,
    pub as_of: NaiveDate,
    /// Months of claims and service history, ending at `as_of`.
    pub months: u32,
    /// Generate only people of at least this age (at `as_of`).
    pub min_age: i32,
    pub format: Format,
}

/// Rows written per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthReport {
    pub rows: Vec<(&'static str, u64)>,
    pub parts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("the synthetic data model is invalid: {0}")]
    Model(String),
    #[error("{}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error(
        "`{}` exists and is not empty: synth writes a new extract into an empty or new directory",
        path.display()
    )]
    OutNotEmpty { path: PathBuf },
    #[error("--persons must be at least 1")]
    NoPersons,
    #[error("--min-age {0} leaves nobody to generate: the model's ages end at {1}")]
    MinAge(i32, i32),
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> SynthError {
    SynthError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Generates an extract into `out` (created; must be absent or empty).
pub fn run(cfg: &SynthConfig, out: &Path) -> Result<SynthReport, SynthError> {
    let model = Model::parse(model::DEFAULT_MODEL).map_err(SynthError::Model)?;
    let sggs = model::parse_sgg(model::DEFAULT_SGG).map_err(SynthError::Model)?;
    run_with(cfg, &model, &sggs, out)
}

pub fn run_with(
    cfg: &SynthConfig,
    model: &Model,
    sggs: &[Sgg],
    out: &Path,
) -> Result<SynthReport, SynthError> {
    if cfg.persons == 0 {
        return Err(SynthError::NoPersons);
    }
    if cfg.min_age > model.population.max_age {
        return Err(SynthError::MinAge(cfg.min_age, model.population.max_age));
    }
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(|e| write_err(out, e))?;
        if entries.next().is_some() {
            return Err(SynthError::OutNotEmpty {
                path: out.to_path_buf(),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
    let ctx = generate::Context::new(cfg, model, sggs);

    let n_chunks = cfg.persons.div_ceil(CHUNK_PERSONS);
    let parts = cfg.format == Format::Parquet && n_chunks > 1;
    let tables = generate::TABLE_NAMES;
    if parts {
        for t in tables {
            let d = out.join(t);
            std::fs::create_dir_all(&d).map_err(|e| write_err(&d, e))?;
        }
    }
    let mut csv_writers: Vec<Option<BufWriter<File>>> = Vec::new();
    if cfg.format == Format::Csv {
        for t in tables {
            let p = out.join(format!("{t}.csv"));
            let f = File::create(&p).map_err(|e| write_err(&p, e))?;
            csv_writers.push(Some(BufWriter::with_capacity(1 << 20, f)));
        }
    }

    let mut totals = vec![0u64; tables.len()];
    let window = (rayon::current_num_threads() * 2).max(2);
    let chunk_ids: Vec<usize> = (0..n_chunks).collect();
    for batch in chunk_ids.chunks(window) {
        let results: Vec<Result<Vec<DataFrame>, SynthError>> = batch
            .par_iter()
            .map(|&k| {
                let first = k * CHUNK_PERSONS;
                let n = CHUNK_PERSONS.min(cfg.persons - first);
                let mut frames = ctx
                    .chunk(k as u64, first, n)
                    .into_frames()
                    .map_err(|e| write_err(out, e))?;
                if cfg.format == Format::Parquet {
                    for (t, df) in tables.iter().zip(frames.iter_mut()) {
                        let path = if parts {
                            out.join(t).join(format!("part-{k:05}.parquet"))
                        } else {
                            out.join(format!("{t}.parquet"))
                        };
                        write_parquet(&path, df)?;
                    }
                }
                Ok(frames)
            })
            .collect();
        for (i, r) in results.into_iter().enumerate() {
            let mut frames = r?;
            let k = batch[i];
            for (j, df) in frames.iter_mut().enumerate() {
                totals[j] += df.height() as u64;
                if let Some(Some(w)) = csv_writers.get_mut(j) {
                    let path = out.join(format!("{}.csv", tables[j]));
                    CsvWriter::new(&mut *w)
                        .include_header(k == 0)
                        .finish(df)
                        .map_err(|e| write_err(&path, e))?;
                }
            }
        }
    }
    for (j, w) in csv_writers.into_iter().enumerate() {
        if let Some(mut w) = w {
            let path = out.join(format!("{}.csv", tables[j]));
            w.flush().map_err(|e| write_err(&path, e))?;
        }
    }
    write_meta(cfg, out)?;
    Ok(SynthReport {
        rows: tables.iter().copied().zip(totals).collect(),
        parts: if parts { n_chunks } else { 1 },
    })
}

fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), SynthError> {
    let f = File::create(path).map_err(|e| write_err(path, e))?;
    ParquetWriter::new(BufWriter::new(f))
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .finish(df)
        .map_err(|e| write_err(path, e))?;
    Ok(())
}

fn write_meta(cfg: &SynthConfig, out: &Path) -> Result<(), SynthError> {
    let path = out.join("extract.toml");
    let fmt = match cfg.format {
        Format::Parquet => "parquet",
        Format::Csv => "csv",
    };
    let text = format!(
        "# Synthetic extract: no real person is in it.\n\
         as_of = \"{}\"\n\
         source = \"balgul synth {} --persons {} --seed {} --as-of {} --months {} --min-age {} --format {fmt}\"\n\
         description = \"synthetic NHIS-style extract following the balgul data contract v1\"\n",
        cfg.as_of,
        env!("CARGO_PKG_VERSION"),
        cfg.persons,
        cfg.seed,
        cfg.as_of,
        cfg.months,
        cfg.min_age,
    );
    std::fs::write(&path, text).map_err(|e| write_err(&path, e))
}

/// The contract table a generated frame belongs to, for checks in tests.
pub fn table_spec(name: &str) -> &'static contract::Table {
    contract::table(name).expect("generated tables are contract tables")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `synth --persons 1000000` panicked with "cannot sample empty range" when a
    /// person who died more than a year before R had a withdrawn LTC application (and, with
    /// `--months` over 24, a certification or 등급외 decision).
    #[test]
    fn withdrawn_application_of_someone_dead_long_before_r_does_not_panic() {
        let mut model = Model::parse(model::DEFAULT_MODEL).unwrap();
        model.mortality.rate = vec![1.0; model.mortality.bands.len()];
        model.ltc.withdrawn = 1.0;
        model.ltc.out_of_grade = 1.0;
        model.ltc.certified = vec![0.5; model.ltc.bands.len()];
        let sggs = model::parse_sgg(model::DEFAULT_SGG).unwrap();
        let cfg = SynthConfig {
            persons: 300,
            seed: 9,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
            months: 40,
            min_age: 65,
            format: Format::Csv,
        };
        let dir = tempfile::tempdir().unwrap();
        let report = run_with(&cfg, &model, &sggs, dir.path()).unwrap();
        let assessments = report
            .rows
            .iter()
            .find(|(t, _)| *t == "ltc_assessments")
            .unwrap()
            .1;
        assert!(assessments >= 300, "{assessments}");
    }
}
