//! The `balgul` command line: a thin layer over the library. Errors are typed in the library
//! and rendered once, here, with an exit code that says what went wrong:
//! 0 success, 1 failure of the machine (I/O), 2 bad usage or invalid rules,
//! 3 input data that does not meet the data contract.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use balgul::extract::{Extract, ExtractError, Mapping};
use balgul::synth::{self, Format, SynthConfig};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "balgul",
    version,
    about = "발굴: finds the people integrated care should reach, from claims and LTC extracts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic extract that follows the data contract (deterministic for a seed).
    Synth {
        /// Number of persons to generate.
        #[arg(long)]
        persons: usize,
        /// Random seed: the same arguments give byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Reference date of the extract (YYYY-MM-DD).
        #[arg(long)]
        as_of: NaiveDate,
        /// Output directory (new or empty).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Parquet)]
        format: Format,
        /// Months of claims and service history ending at --as-of.
        #[arg(long, default_value_t = 15)]
        months: u32,
        /// Generate only people at least this old at --as-of (65 for a screening extract).
        #[arg(long, default_value_t = 0)]
        min_age: i32,
    },
    /// Open an extract, check every table's columns against the contract and count its rows.
    Inspect {
        /// The extract directory.
        #[arg(long)]
        data: PathBuf,
        /// A mapping file (TOML) from a warehouse's own columns to the contract.
        #[arg(long)]
        mapping: Option<PathBuf>,
    },
}

/// An error with the exit code it deserves.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

fn extract_failure(e: ExtractError) -> Failure {
    let code = match e {
        ExtractError::Io { .. } => 1,
        ExtractError::Mapping(_) => 2,
        _ => 3,
    };
    Failure {
        code,
        error: e.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Synth {
            persons,
            seed,
            as_of,
            out,
            format,
            months,
            min_age,
        } => {
            let cfg = SynthConfig {
                persons,
                seed,
                as_of,
                months,
                min_age,
                format,
            };
            let t0 = Instant::now();
            let report = synth::run(&cfg, &out).map_err(|e| Failure {
                code: match e {
                    synth::SynthError::Write { .. } | synth::SynthError::Model(_) => 1,
                    _ => 2,
                },
                error: e.into(),
            })?;
            println!(
                "wrote a synthetic extract of {persons} persons to {} in {:.1} s",
                out.display(),
                t0.elapsed().as_secs_f64()
            );
            println!("{:<18} {:>14}", "table", "rows");
            for (t, n) in &report.rows {
                println!("{t:<18} {n:>14}");
            }
        }
        Command::Inspect { data, mapping } => {
            let mapping = mapping
                .map(|p| Mapping::from_file(&p))
                .transpose()
                .map_err(|e| Failure {
                    code: 2,
                    error: e.into(),
                })?;
            let ex = Extract::open_with(&data, mapping.as_ref()).map_err(extract_failure)?;
            if let Some(d) = ex.meta.as_of {
                println!("as_of: {d}");
            }
            println!("{:<18} {:>14}  source", "table", "rows");
            for t in ex.tables() {
                let n = balgul::extract::count_rows(t).map_err(extract_failure)?;
                println!("{:<18} {:>14}  {}", t.spec.name, n, t.source);
            }
        }
    }
    Ok(())
}
