//! The `balgul` command line: a thin layer over the library. Errors are typed in the library
//! and rendered once, here, with an exit code that says what went wrong:
//! 0 success, 1 failure of the machine (I/O), 2 bad usage or invalid rules,
//! 3 input data that does not meet the data contract.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use balgul::export::{self, Encoding};
use balgul::extract::{Extract, ExtractError, InputEncoding, Mapping};
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
    /// Check a rule set without data: every error with its file, line and column.
    Check {
        /// The rule file.
        #[arg(long)]
        rules: PathBuf,
        /// Resolve dated parameters as of this date (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Screen an extract and write one ranked list per municipality.
    Run {
        /// The extract directory.
        #[arg(long)]
        data: PathBuf,
        /// The rule file.
        #[arg(long)]
        rules: PathBuf,
        /// The reference date (default: `as_of` in the extract's extract.toml).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// The output directory (must not exist, unless --force).
        #[arg(long, required_unless_present = "dry_run")]
        out: Option<PathBuf>,
        /// Screen and print the funnel, cohorts and municipalities; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Encoding of the municipal files.
        #[arg(long, value_enum, default_value_t = Encoding::Utf8Bom)]
        encoding: Encoding,
        /// A mapping file (TOML) from a warehouse's own columns to the contract.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Encoding of the extract's CSV files (Parquet text is always UTF-8).
        #[arg(long, value_enum, default_value_t = InputEncoding::Utf8)]
        input_encoding: InputEncoding,
        /// Replace an existing output directory (only once the new one is complete).
        #[arg(long)]
        force: bool,
        /// Stop at the first row that breaks the data contract (exit 3) instead of setting
        /// it aside in quarantine/<table>.csv.
        #[arg(long)]
        strict: bool,
        /// Fail (exit 3) when more than this share of a table's rows is set aside: a
        /// percentage (`0.1%`) or a fraction (`0.001`).
        #[arg(long, default_value = "1%", value_parser = parse_share)]
        max_bad_rows: f64,
        /// The previous run's output directory: stop (exit 3) when a table or cohort that had
        /// rows there is empty now; warn when a table or a municipality's list moves by more
        /// than --max-change.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// The share of change against --previous beyond which a warning is printed.
        #[arg(long, default_value = "20%", value_parser = parse_share)]
        max_change: f64,
    },
    /// Compare a candidate rule set with a baseline on one extract; write no list.
    Diff {
        /// The extract directory.
        #[arg(long)]
        data: PathBuf,
        /// The rule set in force.
        #[arg(long)]
        baseline: PathBuf,
        /// The proposed rule set.
        #[arg(long, required_unless_present = "self_check")]
        candidate: Option<PathBuf>,
        /// Diff the baseline against itself and fail unless nothing changes (an A/A check).
        #[arg(long)]
        self_check: bool,
        /// The reference date (default: `as_of` in the extract's extract.toml).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Also write the comparison as a self-contained HTML page (`.html`), JSON (`.json`) or
        /// Markdown (`.md`).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Also write every entrant, leaver and rank move with its cause (CSV).
        #[arg(long)]
        people: Option<PathBuf>,
        /// Flag a municipality whose list changes by more than this share of its baseline list.
        #[arg(long, default_value_t = 0.1)]
        threshold: f64,
        /// A mapping file (TOML) from a warehouse's own columns to the contract.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Encoding of the extract's CSV files (Parquet text is always UTF-8).
        #[arg(long, value_enum, default_value_t = InputEncoding::Utf8)]
        input_encoding: InputEncoding,
    },
    /// Explain one person: every feature, each criterion with pass/fail, the score term by
    /// term, and the rank in the municipality.
    Explain {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        rules: PathBuf,
        /// The pseudonymous person_id.
        #[arg(long)]
        person: String,
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Encoding of the extract's CSV files (Parquet text is always UTF-8).
        #[arg(long, value_enum, default_value_t = InputEncoding::Utf8)]
        input_encoding: InputEncoding,
    },
    /// Run rule tests: tiny inline extracts with the outcome expected per person
    /// (rules/tests/ by default). Exit 1 when a test fails.
    Test {
        /// Test files, or directories searched for `*.toml`.
        #[arg(default_value = "rules/tests")]
        paths: Vec<PathBuf>,
    },
    /// Open an extract, check every table's columns against the contract and count its rows.
    Inspect {
        /// The extract directory.
        #[arg(long)]
        data: PathBuf,
        /// A mapping file (TOML) from a warehouse's own columns to the contract.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Encoding of the extract's CSV files (Parquet text is always UTF-8).
        #[arg(long, value_enum, default_value_t = InputEncoding::Utf8)]
        input_encoding: InputEncoding,
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

/// The manifest of a previous run, and how to name it in messages.
fn read_previous(dir: &std::path::Path) -> Result<(serde_json::Value, String), Failure> {
    let path = dir.join("manifest.json");
    let bad = |why: String| Failure {
        code: 2,
        error: anyhow::anyhow!(
            "--previous {}: {why}; name the output directory of an earlier `balgul run`",
            dir.display()
        ),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let m = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{} is not a manifest: {e}", path.display())))?;
    Ok((m, path.display().to_string()))
}

/// `0.1%` or `0.001` → 0.001.
fn parse_share(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.trim().strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (s.trim(), 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v / scale <= 1.0 => Ok(v / scale),
        _ => Err(format!(
            "`{s}` is not a share of rows: write a percentage such as `0.1%` or a fraction such as `0.001`"
        )),
    }
}

/// Reports the rows set aside (stderr) and stops the run (exit 3) under `--strict` or past
/// `--max-bad-rows`.
fn check_set_aside(
    set_aside: &[balgul::validate::SetAside],
    strict: bool,
    max_share: f64,
) -> Result<(), Failure> {
    let fail = |msg: String| Failure {
        code: 3,
        error: anyhow::anyhow!(msg),
    };
    if strict && let Some(q) = set_aside.first() {
        let r = &q.rules[0];
        let examples = q
            .examples
            .iter()
            .find(|(rule, _)| *rule == r.rule)
            .map(|(_, e)| e.join("\n    "))
            .unwrap_or_default();
        return Err(fail(format!(
            "{table}: {n} rows break the rule `{rule}`: {desc} (--strict stops at the first broken rule)\n    {examples}\n  fix the extract, or drop --strict to set such rows aside in quarantine/{table}.csv",
            table = q.table,
            n = r.rows,
            rule = r.rule,
            desc = r.description,
        )));
    }
    for q in set_aside {
        eprintln!(
            "set aside {} of {} {} rows (quarantine/{}.csv):",
            q.rows_set_aside, q.rows_total, q.table, q.table
        );
        for r in &q.rules {
            eprintln!("  {:>10} rows  {}  {}", r.rows, r.rule, r.description);
        }
    }
    if let Some(q) = set_aside.iter().find(|q| q.share() > max_share) {
        let examples: Vec<String> = q
            .examples
            .iter()
            .flat_map(|(_, e)| e.iter().cloned())
            .take(3)
            .collect();
        return Err(fail(format!(
            "{table}: {n} of {total} rows ({share:.3}%) break the data contract, more than --max-bad-rows {max:.3}%\n    {examples}\n  fix the extract (is a column mis-mapped?), or raise --max-bad-rows if these rows may be set aside",
            table = q.table,
            n = q.rows_set_aside,
            total = q.rows_total,
            share = q.share() * 100.0,
            max = max_share * 100.0,
            examples = examples.join("\n    "),
        )));
    }
    Ok(())
}

fn extract_failure(e: ExtractError) -> Failure {
    let code = match e {
        ExtractError::Io { .. } | ExtractError::Spill { .. } => 1,
        ExtractError::Mapping(_) => 2,
        _ => 3,
    };
    Failure {
        code,
        error: e.into(),
    }
}

/// Stage lines on a terminal (stderr), silent otherwise (pipes, logs, CI).
struct Progress {
    on: bool,
    start: Instant,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            on: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }
    fn stage(&self, what: &str) {
        if self.on {
            eprintln!("[{:>6.1} s] {what}…", self.start.elapsed().as_secs_f64());
        }
    }
    /// The rows of each table, from the manifest's inputs.
    fn rows(&self, inputs: &serde_json::Value) {
        if !self.on {
            return;
        }
        for t in inputs.as_array().into_iter().flatten() {
            eprintln!(
                "           {:<16} {:>14} rows",
                t["table"].as_str().unwrap_or("?"),
                t["rows"].as_u64().unwrap_or(0)
            );
        }
    }
    fn done(&self) {
        if self.on {
            eprintln!("[{:>6.1} s] done", self.start.elapsed().as_secs_f64());
        }
    }
}

/// Opens the extract (through a mapping, if one is given), settles the reference date and
/// leaves out the rows that break the data contract, as `run` does.
fn open_extract(
    data: &Path,
    mapping: Option<PathBuf>,
    encoding: InputEncoding,
    as_of: Option<NaiveDate>,
) -> Result<(Extract, NaiveDate), Failure> {
    let mapping = load_mapping(mapping)?;
    let mut ex =
        Extract::open_encoded(data, mapping.as_ref(), encoding).map_err(extract_failure)?;
    let as_of = ex.reference_date(as_of).map_err(|e| Failure {
        code: 2,
        error: e.into(),
    })?;
    // The extract as `run` sees it: the rows it would set aside are left out here too, so a
    // diff or an explanation speaks of the lists a run would write.
    let set_aside = balgul::validate::validate(&mut ex, as_of).map_err(extract_failure)?;
    for q in &set_aside {
        let rules: Vec<String> = q
            .rules
            .iter()
            .map(|r| format!("{} {}", r.rows, r.rule))
            .collect();
        eprintln!(
            "left out, as `run` would set them aside: {} of {} {} rows ({})",
            q.rows_set_aside,
            q.rows_total,
            q.table,
            rules.join(", ")
        );
    }
    Ok((ex, as_of))
}

fn load_mapping(path: Option<PathBuf>) -> Result<Option<Mapping>, Failure> {
    path.map(|p| Mapping::from_file(&p))
        .transpose()
        .map_err(|e| Failure {
            code: 2,
            error: e.into(),
        })
}

fn rule_failure(e: balgul::rules::RuleError) -> Failure {
    let code = match e {
        balgul::rules::RuleError::Io { .. } => 1,
        _ => 2,
    };
    Failure {
        code,
        error: e.into(),
    }
}

/// Today's date (UTC), for resolving dated parameters when no date is given.
fn today() -> NaiveDate {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Duration::days((secs / 86_400) as i64)
}

fn main() -> ExitCode {
    bound_malloc_heaps();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

/// The size from which glibc's malloc gives a buffer its own `mmap`, returned to the system
/// when it is freed. Left to itself glibc raises this threshold (up to 32 MiB) as large
/// buffers are freed, and then keeps the scans' freed buffers in its heaps: at 3 M persons
/// identical runs peaked anywhere from 2.6 to 4.2 GiB, and the freed memory stayed held into
/// the features. Fixed at 4 MiB: 2.36–2.42 GiB, 1 M persons 1.03–1.12 GiB instead of
/// 1.21–1.39 GiB, for a few more page faults (docs/performance.md, 2026-11-25). An analyst's
/// own `GLIBC_TUNABLES` is left alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: usize = 4 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_heaps() {
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; called before any thread
        // is started.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as i32);
        }
        huge_pages::ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_heaps() {}

/// Transparent huge pages for the big buffers: each allocation from the mmap threshold up
/// (the scans' decoded columns, the key hashes and their index) is advised
/// `MADV_HUGEPAGE`, so its pages are 2 MiB instead of 4 KiB. The random lookups in the key
/// hash index and the sorts then miss the TLB less: 1 M persons, eight alternated pairs, each
/// faster than without (median of the last five 19.6 s against 20.5 s); 3 M persons 70.7 s
/// against 79.1 s (system time 30 s against 43 s); the same peak (docs/performance.md,
/// 2026-11-25). Where the system's transparent huge pages are `never` the advice does
/// nothing; where they are `always` it is already the case.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod huge_pages {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Advised from this size: the mmap threshold `bound_malloc_heaps` sets, so that an
    /// advised buffer has a mapping of its own, shared with no small allocation. (A heap
    /// buffer that `realloc` grows past it in place is the exception: the advice then also
    /// covers whatever the heap later puts in those pages, which costs memory at most.)
    const FROM_BYTES: usize = super::MMAP_THRESHOLD_BYTES;
    const HUGE_PAGE_BYTES: usize = 2 << 20;

    /// Set as the run starts when the threshold is ours (no `GLIBC_TUNABLES`).
    pub static ENABLED: AtomicBool = AtomicBool::new(false);

    pub struct Allocator;

    /// Advises the whole huge pages inside `[p, p + size)`.
    fn advise(p: *mut u8, size: usize) {
        if p.is_null() || size < FROM_BYTES || !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let start = (p as usize).next_multiple_of(HUGE_PAGE_BYTES);
        let end = (p as usize + size) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end > start {
            // SAFETY: the range lies inside the allocation just returned; MADV_HUGEPAGE only
            // marks it for huge pages and changes no content. A failure (no THP in the
            // kernel) leaves the memory as it was, so the result is not needed.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }

    // SAFETY: every call is passed to `System` unchanged; `advise` only adds advice to the
    // memory `System` returned.
    unsafe impl GlobalAlloc for Allocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            advise(p, layout.size());
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            advise(p, layout.size());
            p
        }

        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            unsafe { System.dealloc(p, layout) }
        }

        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, layout, new_size) };
            advise(q, new_size);
            q
        }
    }
    #[cfg(test)]
    mod tests {
        use super::*;

        /// The advice must change no content: a wrong flag (`MADV_DONTNEED`, `MADV_FREE`)
        /// would hand back zeroed or stale pages under a live buffer.
        #[test]
        fn advised_buffers_keep_their_content_through_alloc_zeroed_and_realloc() {
            ENABLED.store(true, Ordering::Relaxed);
            let size = 9 << 20;
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: the layout has a non-zero size; the buffer is freed with it below.
            unsafe {
                let p = Allocator.alloc_zeroed(layout);
                assert!(!p.is_null());
                let zeroed = std::slice::from_raw_parts(p, size);
                assert!(zeroed.iter().all(|&b| b == 0));
                for i in 0..size {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = Allocator.realloc(p, layout, 2 * size);
                assert!(!q.is_null());
                let kept = std::slice::from_raw_parts(q, size);
                assert!(kept.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
                Allocator.dealloc(q, Layout::from_size_align(2 * size, 8).unwrap());
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: huge_pages::Allocator = huge_pages::Allocator;

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
        Command::Check { rules, as_of } => {
            let as_of = as_of.unwrap_or_else(today);
            let rs = balgul::rules::load(&rules, as_of).map_err(rule_failure)?;
            println!(
                "{}: rule set `{}` {} is valid as of {as_of}: {} parameters, {} features, {} base criteria, {} cohorts, {} suppression rules, {} score terms, cap {}",
                rules.display(),
                rs.name,
                rs.version,
                rs.params.len(),
                rs.features.len(),
                rs.base.len(),
                rs.cohorts.len(),
                rs.suppress.len(),
                rs.score.len(),
                rs.cap
            );
        }
        Command::Run {
            data,
            rules,
            as_of,
            out,
            encoding,
            mapping,
            input_encoding,
            force,
            dry_run,
            strict,
            max_bad_rows,
            previous,
            max_change,
        } => {
            let t0 = Instant::now();
            let mut timings: Vec<(&str, f64)> = Vec::new();
            // The run's peak resident memory after each stage (where the system tells it).
            let mut peaks: Vec<(&str, u64)> = Vec::new();
            let mut peak = |stage| {
                if let Some(b) = balgul::manifest::peak_rss_so_far() {
                    peaks.push((stage, b));
                }
            };
            let mapping = load_mapping(mapping)?;
            if let Some(out) = out.as_ref().filter(|o| o.exists() && !force && !dry_run) {
                return Err(Failure {
                    code: 2,
                    error: export::ExportError::Exists { path: out.clone() }.into(),
                });
            }
            let progress = Progress::new();
            progress.stage("opening the extract");
            let ex = Extract::open_encoded(&data, mapping.as_ref(), input_encoding)
                .map_err(extract_failure)?;
            let as_of = ex.reference_date(as_of).map_err(|e| Failure {
                code: 2,
                error: e.into(),
            })?;
            timings.push(("open", t0.elapsed().as_secs_f64()));
            let t = Instant::now();
            progress.stage("checking the rules");
            let rs = balgul::rules::load(&rules, as_of).map_err(rule_failure)?;
            timings.push(("rules", t.elapsed().as_secs_f64()));
            peak("open_and_rules");
            progress.stage(
                "checking every row against the data contract (and hashing the inputs for the manifest)",
            );
            // The inputs' SHA-256 and row counts are taken on a thread of their own while
            // validation runs: it fills the moments validation leaves a core idle (1 M
            // persons: hashing alone took 0.8-1.1 s at 138-151 % CPU).
            let as_read = ex.clone();
            let mut ex = ex;
            let (inputs, set_aside) = std::thread::scope(|s| {
                let hashing = s.spawn(|| {
                    let t = Instant::now();
                    balgul::manifest::inputs(&as_read).map(|j| (j, t.elapsed().as_secs_f64()))
                });
                let t = Instant::now();
                let v = balgul::validate::validate_keeping(
                    &mut ex,
                    as_of,
                    balgul::validate::KeyLimits::default(),
                    &balgul::plan::rows_wanted(&rs),
                )
                .map(|q| (q, t.elapsed().as_secs_f64()));
                let h = hashing.join().expect("hashing the inputs does not panic");
                (h, v)
            });
            let (inputs, hash_secs) = inputs.map_err(extract_failure)?;
            let (set_aside, validate_secs) = set_aside.map_err(extract_failure)?;
            timings.push(("hash_inputs_alongside", hash_secs));
            timings.push(("validate_rows", validate_secs));
            peak("validate_rows_and_hash_inputs");
            progress.rows(&inputs);
            check_set_aside(&set_aside, strict, max_bad_rows)?;
            progress.stage("screening (features, conditions, scores, ranking)");
            let s = balgul::screen::run(&ex, &rs)?;
            timings.extend(s.timings.iter().copied());
            peak("features_and_ranking");
            let previous = match &previous {
                Some(dir) => Some(read_previous(dir)?),
                None => None,
            };
            let early = balgul::manifest::build(&rs, &rules, inputs.clone(), &s, &timings);
            let gates = balgul::gates::check(
                &early,
                &["persons", "claims"],
                previous.as_ref().map(|(m, name)| (m, name.as_str())),
                max_change,
            );
            for w in &gates.warnings {
                eprintln!("warning: {w}");
            }
            if !gates.stops.is_empty() {
                return Err(Failure {
                    code: 3,
                    error: anyhow::anyhow!("{}\n  nothing was written", gates.stops.join("\n")),
                });
            }
            if dry_run {
                progress.done();
                print!("{}", balgul::report::summary(&s));
                println!("dry run: nothing written");
                return Ok(());
            }
            let Some(out) = out else {
                unreachable!("clap requires --out unless --dry-run")
            };
            let t = Instant::now();
            let mut all = timings.clone();
            all.push(("total_before_export", t0.elapsed().as_secs_f64()));
            let mut manifest = balgul::manifest::build(&rs, &rules, inputs, &s, &all);
            manifest["rows_set_aside"] = balgul::manifest::set_aside(&set_aside);
            manifest["peak_rss_bytes"] = balgul::manifest::peaks_json(&peaks);
            manifest["gates"] = serde_json::to_value(&gates)?;
            progress.stage("writing the lists");
            let quarantine_rows = set_aside
                .iter()
                .map(|q| Ok((q.table, q.rows(&ex)?)))
                .collect::<Result<Vec<_>, ExtractError>>()
                .map_err(extract_failure)?;
            let quarantine: Vec<(&str, &polars::prelude::DataFrame)> =
                quarantine_rows.iter().map(|(t, df)| (*t, df)).collect();
            export::write_with(&out, force, &rs, &s, encoding, &manifest, &quarantine)?;
            progress.done();
            let listed: u64 = s.municipalities.values().map(|m| m.persons_listed).sum();
            let with_list = s
                .municipalities
                .values()
                .filter(|m| m.persons_listed > 0)
                .count();
            eprint!("{}", balgul::report::summary(&s));
            println!(
                "listed {listed} persons in {with_list} municipalities ({} past the cap of {}), as of {as_of}, in {:.1} s (export {:.1} s)",
                s.persons_past_cap,
                rs.cap,
                t0.elapsed().as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
            println!("  {}/candidates.csv", out.display());
            println!(
                "  {}/by-municipality/<sgg_code>.csv  ({} files)",
                out.display(),
                with_list
            );
            println!("  {}/manifest.json", out.display());
        }
        Command::Diff {
            data,
            baseline,
            candidate,
            self_check,
            as_of,
            report,
            people,
            threshold,
            mapping,
            input_encoding,
        } => {
            let (ex, as_of) = open_extract(&data, mapping, input_encoding, as_of)?;
            let candidate = if self_check {
                baseline.clone()
            } else {
                candidate.expect("clap requires --candidate")
            };
            let rb = balgul::rules::load(&baseline, as_of).map_err(rule_failure)?;
            let ra = balgul::rules::load(&candidate, as_of).map_err(rule_failure)?;
            let (sb, sa) = balgul::screen::run_pair(&ex, &rb, &ra)?;
            let d = balgul::diff::compare(&rb, &sb, &ra, &sa, threshold)?;
            let text = balgul::diff::render(&d);
            print!("{text}");
            if let Some(path) = people {
                std::fs::write(&path, balgul::diff::people_csv(&d))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = report {
                let body = match path.extension().and_then(|e| e.to_str()) {
                    Some("json") => serde_json::to_string_pretty(&d)? + "\n",
                    Some("md") => format!("# balgul diff\n\n```text\n{text}```\n"),
                    Some("html") | Some("htm") => balgul::diff::html::render(&d),
                    _ => {
                        return Err(Failure {
                            code: 2,
                            error: anyhow::anyhow!(
                                "--report {}: name the report .html, .json or .md",
                                path.display()
                            ),
                        });
                    }
                };
                std::fs::write(&path, body)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if self_check {
                if d.is_zero() {
                    println!(
                        "self-check passed: the rule set diffed against itself changes nothing"
                    );
                } else {
                    return Err(Failure {
                        code: 1,
                        error: anyhow::anyhow!(
                            "self-check failed: the rule set diffed against itself is not zero"
                        ),
                    });
                }
            }
        }
        Command::Explain {
            data,
            rules,
            person,
            as_of,
            mapping,
            input_encoding,
        } => {
            let (ex, as_of) = open_extract(&data, mapping, input_encoding, as_of)?;
            let rs = balgul::rules::load(&rules, as_of).map_err(rule_failure)?;
            let Some(text) = balgul::explain::explain(&ex, &rs, &person)? else {
                return Err(Failure {
                    code: 2,
                    error: anyhow::anyhow!("no person `{person}` in {}/persons", data.display()),
                });
            };
            print!("{text}");
            // The rank comes from the full screening: it depends on everyone else.
            let s = balgul::screen::run(&ex, &rs)?;
            let listed = &s.listed;
            let ids = listed.column("person_id")?.str()?.clone();
            match ids.iter().position(|p| p == Some(person.as_str())) {
                Some(i) => {
                    let sgg = listed.column("sgg_code")?.get(i)?.str_value().to_string();
                    let rank = listed.column("rank")?.get(i)?.str_value().to_string();
                    let n = s
                        .municipalities
                        .get(&sgg)
                        .map(|m| m.persons_listed)
                        .unwrap_or(0);
                    println!("rank: {rank} of {n} listed in {sgg} (cap {})", rs.cap);
                }
                None => println!("rank: not listed"),
            }
        }
        Command::Test { paths } => {
            let files = balgul::ruletest::collect(&paths).map_err(|e| Failure {
                code: 2,
                error: e.into(),
            })?;
            if files.is_empty() {
                return Err(Failure {
                    code: 2,
                    error: anyhow::anyhow!("no test files (*.toml) under the paths given"),
                });
            }
            let mut results = Vec::new();
            for f in &files {
                results.push(balgul::ruletest::run_file(f).map_err(|e| Failure {
                    code: 2,
                    error: e.into(),
                })?);
            }
            print!("{}", balgul::ruletest::render(&results));
            if !balgul::ruletest::all_passed(&results) {
                return Err(Failure {
                    code: 1,
                    error: anyhow::anyhow!("rule tests failed"),
                });
            }
        }
        Command::Inspect {
            data,
            mapping,
            input_encoding,
        } => {
            let mapping = load_mapping(mapping)?;
            let ex = Extract::open_encoded(&data, mapping.as_ref(), input_encoding)
                .map_err(extract_failure)?;
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
