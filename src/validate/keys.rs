//! Duplicate keys and orphan rows: the rules of the data contract that a row cannot be checked
//! against by itself.
//!
//! - **Duplicate key**: a table's key (`persons.person_id`, `claims.claim_id`,
//!   `ltc_assessments.application_id`, `ltc_services`' person, month and service) repeats among
//!   the rows kept. Every row of a repeated key is set aside: which copy is right cannot be told.
//! - **Orphan**: a `person_id` or `claim_id` that is not the key of a kept row of its parent
//!   table: absent from it, or its row was set aside (a diagnosis on a claim set aside would
//!   otherwise silently stop counting).
//!
//! Both run on the rows the row-level checks keep, table by table in contract order, so a
//! parent is settled before its children are checked against it.
//!
//! Cost. On a 1 M-person extract (79 M claims) a text group-by for the duplicates of
//! `claim_id` took 24.6 s and 11 GB, a text anti-join of the diagnoses against the claims 16.4 s
//! and 7 GB. So each key is hashed to 64 bits (foldhash, fixed seed) as it is scanned, the
//! hashes are sorted (rayon), and:
//! - a hash seen twice is a candidate duplicate, confirmed on the text of just those rows;
//! - a child's hash absent from the parent's sorted hashes is certainly an orphan (equal keys
//!   hash equal); its rows are then fetched by hash and counted by text. The child's hashes
//!   are looked up in the parent's ([`HashIndex`]) during the child's row-rule scan when the
//!   parent's are at hand, rather than held and sorted beside them (at 3 M persons the
//!   diagnoses' ~137 M distinct claim hashes: the run's peak 4.04 → 3.15 GB, in the same time).
//!
//! Duplicates are therefore exact; an orphan can be missed only if its key's hash equals that
//! of a parent key in the bits the parent's [`HashIndex`] keeps (62 of 64 for 79 M claims, 55
//! for 1 M persons): a chance of 1.5–2.9 × 10^-11 per orphan key, whatever the size of the
//! parent (until 2026-11-24 the index kept all 64 bits: n / 2^64, 4 × 10^-12 for 79 M claims).
//! The persons are checked the same way: their kept hashes, taken in their own row-rule scan,
//! are what every child's `person_id` is looked up in during the child's scan. (Until 2026-11
//! a parent of at most [`JOIN_PARENT_MAX_ROWS`] rows was looked up by its keys as text, in a
//! hash set filled by a second scan of the parent: ~0.6 s for 1 M persons, and each child row
//! cost a string compare in a 50 MB set.)
//! When a lookup cannot stand (more than [`PROBE_MAX_MISSING`] missing hashes), a parent of
//! at most [`JOIN_PARENT_MAX_ROWS`] rows is checked by a streaming anti-join.
//! Hash arrays over [`PASS_BYTES`] are split into passes by the hashes' top bits, so memory stays
//! bounded whatever the size of the extract.
//!
//! The hashes are taken in the table's row-rule scan ([`Taps`]: the check flags each row and
//! hashes the keys of the rows it keeps), so a text key is decoded once: validation at 1 M
//! persons ~22 s → ~17.5 s, at 3 M 76.5 s → 60.3 s. Hashes that do not fit one pass are
//! written by pass to temporary files during the scan and read back a pass at a time
//! ([`super::spill`]); a child's references to such a parent are spilled by the same passes
//! and looked up afterwards, a pass at a time. A separate scan remains for a parent's keys
//! once orphans were set aside from it, and for a lookup that gave up.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use rayon::prelude::*;

use super::Finding;
use super::spill::{SpillWriter, Spilled};
use crate::extract::{ExtractError, LoadedTable};

const SEED: u64 = 0x6261_6c67_756c;

/// Parents with at most this many rows whose kept hashes are not at hand (a child's lookup
/// in them gave up) are checked by an anti-join on their keys as text rather than by hashes.
/// Measured: against 1 M persons the anti-join of 79 M claims takes 0.7 s (hashing and sorting
/// them ~2.5 s); against 7.9 M claims (100k persons) the anti-join of the diagnoses cost 1.5 s
/// more than the hashes. National persons (~10 M) therefore go by hashes (not measured).
pub const JOIN_PARENT_MAX_ROWS: u64 = 2_000_000;

/// The most bytes of hashes one pass holds per column (8 bytes a row): 134 M rows, so a
/// 1 M-person extract (79 M claims) takes one pass, a 3 M-person extract (236 M claims) two
/// and a national year of claims (~1 B rows) eight; past one pass the hashes are spilled to
/// temporary files ([`super::spill`]) and only one pass's are in memory at a time. Measured
/// at 3 M persons (2026-11-25, single runs each): one pass (a budget of 2 GiB) 70.2 and 79.8 s,
/// peaks 2.38 and 2.41 GiB; two passes spilled (1 GiB) 79.2 and 73.0 s, peaks 1.83 and 1.76
/// GiB; eight (256 MiB) 80.8 s, 1.79 GiB (the rest of the peak is not the keys'). At 1 M
/// persons four spilled passes (256 MiB) took 26.6 s and 0.77 GiB against 24.4 s and 1.06 GiB
/// in one.
pub const PASS_BYTES: u64 = 1 << 30;

/// The most missing hashes a child's row-rule scan collects (see [`Taps::probe_hashes`]); more
/// (a persons file that does not belong to the extract, say) are counted by a scan of their
/// own.
pub const PROBE_MAX_MISSING: usize = 100_000;

/// Where the key checks switch strategy; the defaults are [`JOIN_PARENT_MAX_ROWS`] and
/// [`PASS_BYTES`] (tests lower them to exercise the hashed and multi-pass paths on small data).
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub join_parent_max_rows: u64,
    pub pass_bytes: u64,
    /// The most missing hashes a lookup during a child's row-rule scan
    /// ([`Taps::probe_hashes`]) remembers; past it the check falls back to a scan of its own
    /// (the anti-join, for a parent of at most `join_parent_max_rows` rows).
    pub probe_max_missing: usize,
}

impl Default for KeyLimits {
    fn default() -> Self {
        KeyLimits {
            join_parent_max_rows: JOIN_PARENT_MAX_ROWS,
            pass_bytes: PASS_BYTES,
            probe_max_missing: PROBE_MAX_MISSING,
        }
    }
}

/// A table's key as text: the column itself for a one-column key, else the columns joined by
/// U+001F (which no key contains).
pub fn key_text(cols: &[&str]) -> Expr {
    match cols {
        [one] => col(*one),
        many => concat_str(
            many.iter()
                .map(|c| col(*c).cast(DataType::String))
                .collect::<Vec<_>>(),
            "\u{1f}",
            false,
        ),
    }
}

pub(super) fn hasher() -> foldhash::quality::FixedState {
    foldhash::quality::FixedState::with_seed(SEED)
}

/// The 64-bit hash of a key's text.
pub fn hash_key(text: &str) -> u64 {
    hasher().hash_one(text)
}

fn hash_column(c: Column) -> PolarsResult<Column> {
    let ca = c.str()?;
    let st = hasher();
    let out = if ca.null_count() == 0 {
        let mut v = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            v.extend(arr.values_iter().map(|s| st.hash_one(s)));
        }
        UInt64Chunked::from_vec(c.name().clone(), v)
    } else {
        let out: UInt64Chunked = ca.iter().map(|v| v.map(|s| st.hash_one(s))).collect();
        out.with_name(c.name().clone())
    };
    Ok(out.into_column())
}

/// The hash of a text expression, row by row (null stays null): the key hashes validation
/// checks, so a join on them is exact where [`LoadedTable::key_hashes_distinct`] holds.
pub fn hashed(e: Expr) -> Expr {
    e.map(hash_column, |_, f| {
        Ok(Field::new(f.name().clone(), DataType::UInt64))
    })
}

/// How many passes the hashes of `rows` rows take (a power of two).
pub fn passes(rows: u64, limits: KeyLimits) -> usize {
    Pass::all(rows, limits.pass_bytes).len()
}

/// A spill's input or output error, as the run reports it.
fn spill_err(error: std::io::Error) -> ExtractError {
    ExtractError::Spill {
        dir: std::env::temp_dir(),
        error,
    }
}

/// One pass: the hashes whose top `bits` bits equal `index`.
#[derive(Debug, Clone, Copy)]
struct Pass {
    bits: u32,
    index: u64,
}

impl Pass {
    /// The passes that keep each one's hashes of `rows` rows under `budget` bytes.
    fn all(rows: u64, budget: u64) -> Vec<Pass> {
        let needed = rows.saturating_mul(8).div_ceil(budget.max(8)).max(1);
        Pass::with_bits(needed.next_power_of_two().trailing_zeros())
    }

    /// The `2^bits` passes split by the top `bits` bits.
    fn with_bits(bits: u32) -> Vec<Pass> {
        (0..1u64 << bits)
            .map(|index| Pass { bits, index })
            .collect()
    }

    /// Whether `h` falls in this pass.
    fn holds(self, h: u64) -> bool {
        self.bits == 0 || h >> (64 - self.bits) == self.index
    }
}

/// The hashes of a text expression that fall in `pass`, row by row (null otherwise).
fn hashed_in(e: Expr, pass: Pass) -> Expr {
    if pass.bits == 0 {
        return hashed(e);
    }
    e.map(
        move |c: Column| {
            let h = hash_column(c)?;
            let out: UInt64Chunked = h
                .u64()?
                .iter()
                .map(|v| v.filter(|&v| pass.holds(v)))
                .collect();
            Ok(out.with_name(h.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::UInt64)),
    )
}

/// Calls `f` with the text of each row kept (`flags` false or null) whose text is not null,
/// and whether it differs from the text of the kept row before it in the chunk (true for the
/// first): the rows of one person or one claim come together in most extracts, so callers
/// look a key up or hash it once per run. One chunk each without nulls (a morsel of a scan,
/// as a rule) goes by the arrays' own views: two views equal as 16 bytes hold equal text (the
/// same inline text up to 12 bytes, or the same place in the same buffer), so the text itself
/// is compared only for longer keys stored apart (`memcmp` on every row of 220 M cost ~1.5
/// CPU-seconds at 1 M persons).
fn for_kept<'a>(
    flags: &'a BooleanChunked,
    text: &'a StringChunked,
    mut f: impl FnMut(&'a str, bool),
) -> PolarsResult<()> {
    if text.len() != flags.len() {
        return Err(PolarsError::ComputeError(
            "a key column and its row flags differ in length".into(),
        ));
    }
    if flags.chunks().len() == 1
        && text.chunks().len() == 1
        && flags.null_count() == 0
        && text.null_count() == 0
        && let (Some(b), Some(t)) = (flags.downcast_iter().next(), text.downcast_iter().next())
    {
        let views = t.views();
        let mut prev: Option<usize> = None;
        for (i, bad) in b.values().iter().enumerate() {
            if bad {
                continue;
            }
            let v = t.value(i);
            let new = match prev {
                None => true,
                Some(j) => {
                    let (x, y) = (views[i], views[j]);
                    x.as_u128() != y.as_u128()
                        && (x.length <= 12
                            || x.length != y.length
                            || x.prefix != y.prefix
                            || v != t.value(j))
                }
            };
            f(v, new);
            prev = Some(i);
        }
        return Ok(());
    }
    let mut last: Option<&str> = None;
    for (b, v) in flags.iter().zip(text.iter()) {
        if let (Some(false) | None, Some(v)) = (b, v) {
            f(v, last != Some(v));
            last = Some(v);
        }
    }
    Ok(())
}

/// Where a tap pushes the hashes of one key column, one per row kept whose key is not null:
/// in memory when they fit one pass, else to a file per pass ([`spill`]).
#[derive(Clone)]
enum HashSink {
    Memory(Arc<Mutex<Vec<u64>>>),
    Spill(Arc<Mutex<SpillWriter>>),
}

/// One key column asked for: its name, its text and where its hashes go.
struct HashTap {
    name: String,
    expr: Expr,
    sink: HashSink,
}

/// What a probed column's hashes are looked up in: a parent's index at hand during the scan,
/// or, for a parent whose hashes were spilled by pass, nothing during the scan: the child's
/// hashes are spilled by the same passes and looked up a pass at a time afterwards.
#[derive(Clone)]
enum ProbeTarget {
    Index(Arc<HashIndex>),
    Spill {
        parent: Arc<Spilled>,
        child: Arc<Mutex<SpillWriter>>,
    },
}

/// Hash sinks filled during a table's row-rule scan ([`tap`]), one per key column asked for.
#[derive(Default)]
pub struct Taps {
    columns: Vec<HashTap>,
    hash_probes: Vec<HashProbeTap>,
    rows: Option<RowsTap>,
    distinct: Vec<super::distinct::DistinctTap>,
}

/// A column whose hashes are looked up in a parent's kept key hashes during a row-rule scan
/// ([`Taps::probe_hashes`]), and what the lookups saw.
struct HashProbeTap {
    column: String,
    target: ProbeTarget,
    /// The most missing hashes kept.
    max_missing: usize,
    seen: Arc<Mutex<HashProbe>>,
}

#[derive(Default)]
struct HashProbe {
    /// The rows kept whose value was not null.
    rows: u64,
    /// The hashes not found (a hash may repeat).
    missing: Vec<u64>,
    /// More were missing than the probe keeps.
    overflow: bool,
}

/// A hash probe's result: the hashes of the values missing from the parent (sorted, distinct;
/// `None` when too many were missing to keep) among the rows the rules kept, and those rows.
pub struct HashProbeResult {
    pub rows: u64,
    pub missing: Option<Vec<u64>>,
}

/// The column of a [`RowsTap`]'s `keep` ([`Taps::prepare`]).
const ROWS_KEEP: &str = "__rows_keep";

/// The columns of the `i`-th distinct-count tap's filter and value ([`Taps::prepare`]),
/// suffixed by `i`.
const DISTINCT_KEEP: &str = "__distinct_keep";
const DISTINCT_VALUE: &str = "__distinct_value";

/// Rows kept whole during a row-rule scan: those kept by the rules (`bad` false or null) for
/// which `keep` holds, with `columns`, up to `max_rows` of them (see
/// [`crate::extract::RowsWanted`]).
struct RowsTap {
    keep: Expr,
    columns: Vec<String>,
    max_rows: usize,
    sink: Arc<Mutex<RowsSink>>,
}

#[derive(Default)]
struct RowsSink {
    frames: Vec<DataFrame>,
    /// Rows in `frames`.
    held: usize,
    /// Rows kept by the rules that the tap saw (all of them, whether `keep` held or not).
    seen: u64,
    /// More than `max_rows` rows passed `keep`: none is kept.
    overflow: bool,
}

/// The rows a [`Taps::keep_rows`] tap kept (in chunks, in no set order) and how many rows
/// kept by the rules it saw; `frames` is `None` past its limit.
pub struct TappedRows {
    pub frames: Option<Vec<DataFrame>>,
    pub seen: u64,
}

/// A tapped key column's hashes, one per row kept whose key is not null.
pub struct TappedColumn {
    pub name: String,
    pub hashes: TappedHashes,
}

/// A tapped key column's hashes: sorted in memory (one pass), or spilled by pass.
pub enum TappedHashes {
    Sorted(Vec<u64>),
    Spilled(Spilled),
}

impl TappedHashes {
    /// How many hashes.
    pub fn len(&self) -> u64 {
        match self {
            TappedHashes::Sorted(v) => v.len() as u64,
            TappedHashes::Spilled(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Taps {
    /// Asks for the hashes of `expr` (a text key), one per row kept, known afterwards as
    /// `name`: a table's own key, whose repeats are looked for. In memory, with room for
    /// `rows` of them, when they take one pass; else spilled to `passes` files.
    pub fn want(
        &mut self,
        name: &str,
        expr: Expr,
        rows: u64,
        passes: usize,
    ) -> Result<(), ExtractError> {
        let sink = if passes <= 1 {
            let hashes = Vec::with_capacity(usize::try_from(rows).unwrap_or(0));
            HashSink::Memory(Arc::new(Mutex::new(hashes)))
        } else {
            HashSink::Spill(Arc::new(Mutex::new(
                SpillWriter::new(passes).map_err(spill_err)?,
            )))
        };
        self.columns.push(HashTap {
            name: name.to_string(),
            expr,
            sink,
        });
        Ok(())
    }

    /// Asks for the hashes of `column` (text) to be looked up in `parent`'s kept key hashes on
    /// every row kept (once per run of equal values), known afterwards by
    /// [`Taps::take_hash_probe`]; at most `max_missing` missing hashes are kept.
    pub fn probe_hashes(&mut self, column: &str, parent: &KeptHashes, max_missing: usize) {
        let target = match parent {
            KeptHashes::Index(index) => ProbeTarget::Index(index.clone()),
            KeptHashes::Spilled(spilled) => match SpillWriter::new(spilled.passes()) {
                Ok(w) => ProbeTarget::Spill {
                    parent: spilled.clone(),
                    child: Arc::new(Mutex::new(w)),
                },
                // No file to spill to: no probe, and the check falls back to a scan of its
                // own (which says what failed, if it fails too).
                Err(_) => return,
            },
        };
        self.hash_probes.push(HashProbeTap {
            column: column.to_string(),
            target,
            max_missing,
            seen: Arc::new(Mutex::new(HashProbe::default())),
        });
    }

    /// The result of the hash probe of `column` (if one was asked for). A probe of a spilled
    /// parent looks its spilled hashes up here, a pass at a time: the parent's pass read back
    /// and indexed, the child's read back, sorted and looked up in it on all cores.
    pub fn take_hash_probe(&self, column: &str) -> Result<Option<HashProbeResult>, ExtractError> {
        let Some(tap) = self.hash_probes.iter().find(|p| p.column == column) else {
            return Ok(None);
        };
        let mut p = std::mem::take(&mut *tap.seen.lock().unwrap_or_else(|p| p.into_inner()));
        if let ProbeTarget::Spill { parent, child } = &tap.target
            && !p.overflow
        {
            let child = child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .finish()
                .map_err(spill_err)?;
            for i in 0..child.passes() {
                let Some(index) = HashIndex::new(parent.read(i).map_err(spill_err)?) else {
                    p.overflow = true;
                    break;
                };
                let mut c = child.read(i).map_err(spill_err)?;
                c.par_sort_unstable();
                c.dedup();
                let missing = index.missing_on_all_cores(&c);
                if p.missing.len() + missing.len() > tap.max_missing {
                    p.overflow = true;
                    p.missing = Vec::new();
                    break;
                }
                p.missing.extend(missing);
            }
        }
        Ok(Some(HashProbeResult {
            rows: p.rows,
            missing: (!p.overflow).then(|| {
                let mut v = p.missing;
                v.sort_unstable();
                v.dedup();
                v
            }),
        }))
    }

    /// Asks for the rows kept by the rules for which `keep` holds, with `columns`, known
    /// afterwards by [`Taps::take_rows`]; past `max_rows` such rows none is kept.
    pub fn keep_rows(&mut self, keep: Expr, columns: Vec<String>, max_rows: usize) {
        self.rows = Some(RowsTap {
            keep,
            columns,
            max_rows,
            sink: Arc::new(Mutex::new(RowsSink::default())),
        });
    }

    /// The rows a [`Taps::keep_rows`] tap kept (if one was asked for).
    pub fn take_rows(&self) -> Option<TappedRows> {
        let tap = self.rows.as_ref()?;
        let s = std::mem::take(&mut *tap.sink.lock().unwrap_or_else(|p| p.into_inner()));
        Some(TappedRows {
            frames: (!s.overflow).then_some(s.frames),
            seen: s.seen,
        })
    }

    /// Asks for the count of distinct values of `value` per person hash over the rows kept by
    /// the rules where `keep` holds (see [`super::distinct`]), known afterwards by
    /// [`Taps::take_distinct`]; past `max_pairs` distinct (person, value) pairs the tap gives
    /// up.
    pub fn count_distinct(&mut self, keep: Expr, value: Expr, max_pairs: usize) {
        self.distinct.push(super::distinct::DistinctTap {
            keep,
            value,
            max_pairs,
            sink: Arc::new(Mutex::new(Default::default())),
        });
    }

    /// Each distinct-count tap's counts (per person hash, `None` if
    /// it gave up) and the rows kept by the rules it saw, in the order asked for.
    pub fn take_distinct(&self) -> Vec<(Option<DataFrame>, u64)> {
        self.distinct
            .iter()
            .map(|d| {
                let s = std::mem::take(&mut *d.sink.lock().unwrap_or_else(|p| p.into_inner()));
                let seen = s.seen;
                (s.counts(), seen)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
            && self.hash_probes.is_empty()
            && self.rows.is_none()
            && self.distinct.is_empty()
    }

    /// `lf` with what the taps read besides the table's columns: a [`Taps::keep_rows`] tap's
    /// `keep`, as a column of its own (among the tap's arguments, a list literal such as the
    /// discharge kinds of an `is_in` made polars 0.55 run the whole pass in memory: 18.5 s
    /// and 7.9 GB for the claims at 1 M persons).
    pub fn prepare(&self, lf: LazyFrame) -> LazyFrame {
        let mut prepared: Vec<Expr> = Vec::new();
        if let Some(r) = &self.rows {
            prepared.push(r.keep.clone().fill_null(lit(false)).alias(ROWS_KEEP));
        }
        for (i, d) in self.distinct.iter().enumerate() {
            prepared.push(
                d.keep
                    .clone()
                    .fill_null(lit(false))
                    .alias(format!("{DISTINCT_KEEP}{i}")),
            );
            prepared.push(d.value.clone().alias(format!("{DISTINCT_VALUE}{i}")));
        }
        if prepared.is_empty() {
            lf
        } else {
            lf.with_columns(prepared)
        }
    }

    /// `bad` unchanged, having pushed, as a side effect of its evaluation, the hash of each key
    /// asked for on every row where `bad` is false (null keys are skipped), and looked up the
    /// hash of each probed column of those rows in its parent's kept key hashes.
    pub fn tap(&self, bad: Expr) -> Expr {
        let sinks: Vec<HashSink> = self.columns.iter().map(|c| c.sink.clone()).collect();
        let mut args: Vec<Expr> = self.columns.iter().map(|c| c.expr.clone()).collect();
        args.extend(self.hash_probes.iter().map(|p| col(p.column.as_str())));
        // The rows tap's `keep` comes as the column [`Taps::prepare`] computes.
        let rows_tap = self.rows.as_ref().map(|r| {
            args.push(col(ROWS_KEEP));
            args.extend(r.columns.iter().map(|c| col(c.as_str())));
            (r.columns.clone(), r.max_rows, r.sink.clone())
        });
        let rows_args = self.rows.as_ref().map_or(0, |r| 1 + r.columns.len());
        // The distinct-count taps read the person and, each, its prepared filter and value.
        if !self.distinct.is_empty() {
            args.push(col("person_id"));
        }
        let distinct: Vec<(usize, Arc<Mutex<super::distinct::PairsSink>>)> = self
            .distinct
            .iter()
            .enumerate()
            .map(|(i, d)| {
                args.push(col(format!("{DISTINCT_KEEP}{i}")));
                args.push(col(format!("{DISTINCT_VALUE}{i}")));
                (d.max_pairs, d.sink.clone())
            })
            .collect();
        let hash_probes: Vec<(ProbeTarget, usize, Arc<Mutex<HashProbe>>)> = self
            .hash_probes
            .iter()
            .map(|p| (p.target.clone(), p.max_missing, p.seen.clone()))
            .collect();
        bad.map_many(
            move |cols: &mut [Column]| {
                let st = hasher();
                let flags = cols[0].as_materialized_series().bool()?.clone();
                let (hashed, rest) = cols[1..].split_at(sinks.len());
                let (hash_probed, rest) = rest.split_at(hash_probes.len());
                let (kept, rest) = rest.split_at(rows_args);
                if let Some((names, max_rows, sink)) = &rows_tap {
                    keep_rows(&flags, kept, names, *max_rows, sink)?;
                }
                if let Some((person, rest)) = rest.split_first() {
                    let ok = !&flags.fill_null_with_values(false)?;
                    for ((max_pairs, sink), c) in distinct.iter().zip(rest.chunks(2)) {
                        let [keep, value] = c else {
                            return Err(PolarsError::ComputeError(
                                "a distinct-count tap lost its columns".into(),
                            ));
                        };
                        super::distinct::tap_chunk(&ok, person, keep, value, *max_pairs, sink)?;
                    }
                }
                for (c, (target, max_missing, probe)) in hash_probed.iter().zip(&hash_probes) {
                    let text = c.as_materialized_series().str()?.clone();
                    // A run of equal values is hashed and looked up once.
                    let mut rows = 0u64;
                    let mut hashes = Vec::new();
                    for_kept(&flags, &text, |v, new| {
                        rows += 1;
                        if new {
                            hashes.push(st.hash_one(v));
                        }
                    })?;
                    let index = match target {
                        ProbeTarget::Index(index) => index,
                        ProbeTarget::Spill { child, .. } => {
                            child
                                .lock()
                                .map_err(|_| {
                                    PolarsError::ComputeError(
                                        "a key hash spill was poisoned".into(),
                                    )
                                })?
                                .push(&hashes);
                            probe
                                .lock()
                                .map_err(|_| {
                                    PolarsError::ComputeError(
                                        "a key hash probe was poisoned".into(),
                                    )
                                })?
                                .rows += rows;
                            continue;
                        }
                    };
                    // Sorted, the lookups walk a large parent's hashes in one direction.
                    if index.wants_sorted_lookups() {
                        hashes.sort_unstable();
                    }
                    let missing = index.missing(&hashes);
                    let mut p = probe.lock().map_err(|_| {
                        PolarsError::ComputeError("a key hash probe was poisoned".into())
                    })?;
                    let p = &mut *p;
                    p.rows += rows;
                    if !p.overflow {
                        if p.missing.len() + missing.len() > *max_missing {
                            p.overflow = true;
                            p.missing = Vec::new();
                        } else {
                            p.missing.extend_from_slice(&missing);
                        }
                    }
                }
                for (c, sink) in hashed.iter().zip(&sinks) {
                    let text = c.as_materialized_series().str()?.clone();
                    let mut local = Vec::with_capacity(text.len());
                    for_kept(&flags, &text, |v, _| local.push(st.hash_one(v)))?;
                    let poisoned =
                        || PolarsError::ComputeError("a key hash sink was poisoned".into());
                    match sink {
                        HashSink::Memory(m) => {
                            m.lock().map_err(|_| poisoned())?.extend_from_slice(&local)
                        }
                        HashSink::Spill(w) => w.lock().map_err(|_| poisoned())?.push(&local),
                    }
                }
                Ok(std::mem::take(&mut cols[0]))
            },
            &args,
            |_, fields| Ok(fields[0].clone()),
        )
    }

    /// The hashes taken: those in memory sorted, those spilled with their files flushed.
    pub fn take_sorted(&mut self) -> Result<Vec<TappedColumn>, ExtractError> {
        std::mem::take(&mut self.columns)
            .into_iter()
            .map(|c| {
                let hashes = match &c.sink {
                    HashSink::Memory(m) => {
                        let mut v =
                            std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()));
                        v.par_sort_unstable();
                        TappedHashes::Sorted(v)
                    }
                    HashSink::Spill(w) => TappedHashes::Spilled(
                        w.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .finish()
                            .map_err(spill_err)?,
                    ),
                };
                Ok(TappedColumn {
                    name: c.name,
                    hashes,
                })
            })
            .collect()
    }
}

/// A [`RowsTap`]'s work on one chunk of `columns` (named `names`): the rows the rules keep
/// (`bad` false or null) where `keep` holds are pushed to `sink`.
fn keep_rows(
    bad: &BooleanChunked,
    kept: &[Column],
    names: &[String],
    max_rows: usize,
    sink: &Mutex<RowsSink>,
) -> PolarsResult<()> {
    let Some((keep, columns)) = kept.split_first() else {
        return Err(PolarsError::ComputeError(
            "a rows tap lost its columns".into(),
        ));
    };
    let ok = !&bad.fill_null_with_values(false)?;
    let seen = ok.sum().unwrap_or(0) as u64;
    let take = &ok & keep.as_materialized_series().bool()?;
    let n = take.sum().unwrap_or(0) as usize;
    let lock = || {
        sink.lock()
            .map_err(|_| PolarsError::ComputeError("a rows tap was poisoned".into()))
    };
    // The rows are counted against the limit before any is copied: once past it, a chunk
    // costs its two counts and nothing more.
    {
        let mut s = lock()?;
        s.seen += seen;
        if s.overflow || n == 0 {
            return Ok(());
        }
        if s.held + n > max_rows {
            s.overflow = true;
            s.frames.clear();
            s.held = 0;
            return Ok(());
        }
        s.held += n;
    }
    let cols = columns
        .iter()
        .zip(names)
        .map(|(c, name)| Ok(compact(c.filter(&take)?).with_name(name.as_str().into())))
        .collect::<PolarsResult<Vec<Column>>>()?;
    let frame = DataFrame::new_infer_height(cols)?;
    let mut s = lock()?;
    if !s.overflow {
        s.frames.push(frame);
    }
    Ok(())
}

/// `c` with text in buffers of its own: text filtered out of a chunk still points into the
/// chunk's buffers, which kept every claim's text alive (+1.7 GB at 1 M persons for 0.6 % of
/// the claims kept).
fn compact(c: Column) -> Column {
    match c.str() {
        Ok(ca) => ca
            .iter()
            .collect::<StringChunked>()
            .with_name(c.name().clone())
            .into_column(),
        Err(_) => c,
    }
}

/// The sorted hashes of `key` over the rows of `lf` in one pass.
fn sorted_hashes(lf: LazyFrame, key: Expr, pass: Pass) -> PolarsResult<Vec<u64>> {
    let lf = lf
        .select([hashed_in(key, pass).alias("__h")])
        .filter(col("__h").is_not_null());
    let df = lf.collect_with_engine(Engine::Streaming)?.unwrap_single();
    let ca = df.column("__h")?.u64()?;
    let mut v = Vec::with_capacity(ca.len());
    if ca.null_count() == 0 {
        for arr in ca.downcast_iter() {
            v.extend_from_slice(arr.values());
        }
    } else {
        v.extend(ca.iter().flatten());
    }
    drop(df);
    v.par_sort_unstable();
    Ok(v)
}

fn list_of_u64(v: Vec<u64>) -> Expr {
    lit(Series::new("list".into(), v)).implode(false)
}

fn list_of_text(s: &Series) -> Expr {
    lit(s.clone()).implode(false)
}

/// Keys (`__key`, text) and their row counts (`__n`), sorted by key.
fn counted_keys(df: DataFrame) -> PolarsResult<(Series, u64)> {
    let df = df.sort(["__key"], SortMultipleOptions::default())?;
    let rows = df
        .column("__n")?
        .cast(&DataType::UInt64)?
        .u64()?
        .sum()
        .unwrap_or(0);
    Ok((df.column("__key")?.as_materialized_series().clone(), rows))
}

/// `sorted` with `rows` occurrences of each `(hash, rows)` of `gone` (sorted by hash; a hash
/// may appear more than once) removed; a hash left with occurrences keeps one.
fn without_rows(sorted: &[u64], gone: &[(u64, u64)]) -> Vec<u64> {
    let mut out = Vec::with_capacity(sorted.len());
    let mut g = 0;
    let mut i = 0;
    while i < sorted.len() {
        let h = sorted[i];
        let run = sorted[i..].iter().take_while(|&&x| x == h).count();
        while g < gone.len() && gone[g].0 < h {
            g += 1;
        }
        let mut removed = 0u64;
        let mut k = g;
        while k < gone.len() && gone[k].0 == h {
            removed += gone[k].1;
            k += 1;
        }
        if removed == 0 {
            out.extend_from_slice(&sorted[i..i + run]);
        } else if (run as u64) > removed {
            out.push(h);
        }
        i += run;
    }
    out
}

/// Hashes of a parent's kept keys, kept from its duplicate check for its children.
pub struct ParentHashes {
    pub table: &'static str,
    pub kept: KeptHashes,
}

/// A parent's kept key hashes: indexed in memory when they fit one pass, else sorted in their
/// pass's file.
pub enum KeptHashes {
    Index(Arc<HashIndex>),
    Spilled(Arc<Spilled>),
}

/// Sorted key hashes with a table of where each run of equal top bits starts, so a hash is
/// looked up in about two cache misses (the table's entry, then a few neighbouring hashes)
/// rather than the ~27 of a binary search over the 79 M claims of a 1 M-person extract. A
/// child's keys are looked up in it during the child's row-rule pass ([`Taps::probe_hashes`]),
/// so they need not be held and sorted beside the parent's: at 3 M persons the diagnoses'
/// ~137 M distinct claim hashes took 1.1 GB there. The table has one entry per
/// [`HashIndex::PER_BUCKET`] hashes or so: 4 bytes for that many hashes (16 MB for the
/// 79 M claims, half what `usize` entries took; the lookups took 10–25 % fewer CPU samples in
/// 2 alternated profiles of a 1 M-person run. 32 hashes a bucket made them slower: longer
/// searches within a bucket outweighed the smaller table).
///
/// A hash is held in 5 bytes, not 8: its bucket (the table's entry) already says its top
/// `bits` bits, so the index keeps the [`HashIndex::KEPT_BITS`] bits below them
/// ([`HashIndex::kept`]), packed. It tells `bits + 40` bits of each hash (62 for the 79 M
/// claims of a 1 M-person extract, 63 at 3 M persons) where 8 bytes told 64: a child's key
/// whose hash is not a parent's is taken for a parent key with a chance of `n / 2^(bits + 40)`,
/// 1.5–2.9 × 10^-11 since a bucket holds 16 to 32 hashes on average, rather than `n / 2^64`
/// (4 × 10^-12 for 79 M claims). The 3 M-person extract's 237 M claim hashes take 1.19 GB
/// instead of 1.9 GB while the diagnoses and the prescriptions are looked up in them (the
/// run's peak 3,031 → 2,594 MiB), and the lookups cost the same: 60 M lookups among 79 M
/// hashes 2.9–3.8 s against 3.3–3.7 s in two alternated runs of a throwaway benchmark
/// (packing adds ~0.2 s to the 0.5 s of building the index).
pub struct HashIndex {
    /// Each hash's kept bits, 40 bits a hash from the lowest bit of the first word up, and one
    /// word of padding after them (a hash may straddle two words).
    packed: Vec<u64>,
    /// `starts[b]` is where the hashes whose top `bits` bits equal `b` start; one entry more
    /// holds the length.
    starts: Vec<u32>,
    bits: u32,
}

/// Asks the CPU to bring `x`'s cache line in (a hint; nothing where there is no such
/// instruction).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and cannot fault; `x` is a valid reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

impl HashIndex {
    /// Hashes per entry of the table, on average.
    pub const PER_BUCKET: usize = 16;

    /// The bytes a hash takes in the index.
    const KEPT_BYTES: usize = 5;

    /// The bits of a hash the index keeps below its bucket's.
    pub const KEPT_BITS: u32 = 8 * Self::KEPT_BYTES as u32;

    /// The index of `sorted` (sorted ascending), packed into the vector's own memory; `None`
    /// past `u32::MAX` hashes (16 times [`PASS_BYTES`]' worth).
    pub fn new(sorted: Vec<u64>) -> Option<HashIndex> {
        u32::try_from(sorted.len()).ok()?;
        let buckets = (sorted.len() / Self::PER_BUCKET).max(1);
        let bits = buckets.ilog2().min(32);
        let mut starts = vec![0u32; (1usize << bits) + 1];
        // Each slice of the table from where its first bucket starts (the last entry, past
        // every bucket, gets the length), on all cores.
        const SLICE: usize = 1 << 12;
        starts
            .par_chunks_mut(SLICE)
            .enumerate()
            .for_each(|(c, out)| {
                let first = c * SLICE;
                let mut i = sorted.partition_point(|&h| Self::bucket(h, bits) < first);
                for (k, slot) in out.iter_mut().enumerate() {
                    while i < sorted.len() && Self::bucket(sorted[i], bits) < first + k {
                        i += 1;
                    }
                    // At most the length, checked above.
                    *slot = i as u32;
                }
            });
        Some(HashIndex {
            packed: Self::pack(sorted, bits),
            starts,
            bits,
        })
    }

    /// Packs each hash's kept bits into the front of the vector that held the hashes, then
    /// gives the rest back. The `i`-th hash's bits are written to bits `40 i..40 i + 40`,
    /// which lie before the hash itself (bits `64 i..`) once `i` ≥ 1, and a word is written
    /// only when every hash it holds bits of has been read: each hash is read before it
    /// can be overwritten.
    fn pack(mut v: Vec<u64>, bits: u32) -> Vec<u64> {
        let n = v.len();
        let mut acc: u128 = 0;
        let mut filled = 0u32;
        let mut w = 0;
        for i in 0..n {
            acc |= u128::from(Self::kept(v[i], bits)) << filled;
            filled += Self::KEPT_BITS;
            if filled >= 64 {
                v[w] = (acc as u64).to_le();
                w += 1;
                acc >>= 64;
                filled -= 64;
            }
        }
        v.truncate(w);
        if filled > 0 {
            v.push((acc as u64).to_le());
        }
        v.push(0);
        v.shrink_to_fit();
        v
    }

    fn bucket(h: u64, bits: u32) -> usize {
        if bits == 0 {
            0
        } else {
            (h >> (64 - bits)) as usize
        }
    }

    /// The bits of `h` the index keeps: the [`HashIndex::KEPT_BITS`] below its top `bits`
    /// (which its bucket says). Within a bucket they are in the hashes' order.
    fn kept(h: u64, bits: u32) -> u64 {
        (h << bits) >> (64 - Self::KEPT_BITS)
    }

    /// The packed words as the bytes they are in memory: the kept bits of hash `i` are bytes
    /// `5 i..5 i + 5`, lowest first ([`HashIndex::pack`] stores each word little-end first
    /// whatever the machine).
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.packed)
    }

    /// How many hashes the index holds (the table's last entry).
    fn len(&self) -> usize {
        *self.starts.last().expect("one entry more than the buckets") as usize
    }

    /// The kept bits of the `i`-th hash, from [`HashIndex::bytes`]: one 8-byte read (the
    /// padding word keeps the last one within the words).
    #[inline(always)]
    fn at_in(bytes: &[u8], i: usize) -> u64 {
        let at = Self::KEPT_BYTES * i;
        let b: [u8; 8] = bytes[at..at + 8].try_into().expect("an 8-byte slice");
        u64::from_le_bytes(b) & ((1 << Self::KEPT_BITS) - 1)
    }

    /// The kept bits of the `i`-th hash.
    #[cfg(test)]
    fn at(&self, i: usize) -> u64 {
        Self::at_in(self.bytes(), i)
    }

    /// Whether `h` is among the hashes.
    pub fn contains(&self, h: u64) -> bool {
        self.missing(&[h]).is_empty()
    }

    /// Those of `hashes` not among the hashes, in order. The lookups are pipelined: the
    /// table's entries of the hashes a little ahead are fetched first, then their first
    /// neighbours, so the CPU waits on memory for several lookups at once rather than for two
    /// misses a lookup in turn (one after another they took ~110 ns each against the 79 M
    /// claims of a 1 M-person extract). Sorted `hashes` are looked up fastest: the lookups
    /// then walk the table and the hashes in one direction (at 3 M persons the diagnoses' pass
    /// took 11.0 s with each chunk's hashes sorted, 14.7 s without).
    pub fn missing(&self, hashes: &[u64]) -> Vec<u64> {
        const AHEAD: usize = 16;
        let bucket = |h: u64| Self::bucket(h, self.bits);
        let ranges: Vec<(usize, usize)> = (0..hashes.len())
            .map(|i| {
                if let Some(&next) = hashes.get(i + AHEAD) {
                    prefetch(&self.starts[bucket(next)]);
                }
                let b = bucket(hashes[i]);
                (self.starts[b] as usize, self.starts[b + 1] as usize)
            })
            .collect();
        let bytes = self.bytes();
        let mut out = Vec::new();
        for (i, &h) in hashes.iter().enumerate() {
            if let Some(&(lo, hi)) = ranges.get(i + AHEAD)
                && lo < hi
            {
                // The bucket's first and last bytes: the cache lines of its ~80 bytes (all of
                // them unless it spans three).
                prefetch(&bytes[Self::KEPT_BYTES * lo]);
                prefetch(&bytes[Self::KEPT_BYTES * hi - 1]);
            }
            let (lo, hi) = ranges[i];
            let key = Self::kept(h, self.bits);
            // The last of the bucket's hashes not above the key, by halving without a branch
            // to mispredict (the comparison becomes a conditional move).
            let (mut a, mut n) = (lo, hi - lo);
            while n > 1 {
                let half = n / 2;
                if Self::at_in(bytes, a + half) <= key {
                    a += half;
                }
                n -= half;
            }
            if n == 0 || Self::at_in(bytes, a) != key {
                out.push(h);
            }
        }
        out
    }

    /// [`HashIndex::missing`] of `hashes` (sorted: a child's distinct hashes) in slices looked
    /// up on all cores, in order.
    pub fn missing_on_all_cores(&self, hashes: &[u64]) -> Vec<u64> {
        let found: Vec<Vec<u64>> = hashes
            .par_chunks(1 << 20)
            .map(|chunk| self.missing(chunk))
            .collect();
        found.concat()
    }

    /// Whether lookups should come sorted ([`HashIndex::missing`]): the hashes are past what
    /// the CPU's caches hold (32 MB, 4 M keys). The persons' of a 1 M-person extract (8 MB)
    /// are not: sorting each chunk's person ids there saved nothing (4 alternated pairs:
    /// validation 15.4 s median sorted, 15.0 s not).
    pub fn wants_sorted_lookups(&self) -> bool {
        self.len() > 1 << 22
    }
}

/// The duplicate check of one table.
pub struct Duplicates {
    /// The rows whose key repeats, if any.
    pub finding: Option<Finding>,
    /// The sorted hashes of the kept keys, the repeated ones removed, when asked for and they
    /// fit one pass (indexed) or were spilled by pass in the table's scan (sorted on disk).
    pub parent: Option<ParentHashes>,
    /// No two keys kept share a hash (so a join on the key's hash is exact).
    pub hashes_distinct: bool,
}

/// The rows of `t` (those kept so far) whose key repeats. Also returns the sorted hashes of the
/// kept keys, the repeated ones removed, when `keep_hashes` and they were tapped (in memory in
/// one pass, or spilled by pass: each pass is then read back, sorted, and written back sorted
/// for the children) or fit one pass. `tapped` are the hashes taken in the table's row-rule
/// scan, if any; else each pass hashes the key by a scan of its own.
pub fn duplicates(
    t: &LoadedTable,
    rows: u64,
    keep_hashes: bool,
    limits: KeyLimits,
    tapped: Option<TappedHashes>,
) -> Result<Duplicates, ExtractError> {
    let key = t.spec.key;
    if key.is_empty() {
        return Ok(Duplicates {
            finding: None,
            parent: None,
            hashes_distinct: false,
        });
    }
    let err = |e| ExtractError::read(&t.source, e);
    // The passes: the tap's when the hashes were tapped, else as many as the rows kept take.
    let (passes, mut in_memory, mut spilled) = match tapped {
        Some(TappedHashes::Sorted(v)) => (Pass::with_bits(0), Some(v), None),
        Some(TappedHashes::Spilled(s)) => (Pass::with_bits(s.bits()), None, Some(s)),
        None => (Pass::all(rows, limits.pass_bytes), None, None),
    };
    let mut candidates = Vec::new();
    let mut kept = None;
    for (i, &pass) in passes.iter().enumerate() {
        let v = match (in_memory.take(), &spilled) {
            (Some(v), _) => v,
            (None, Some(s)) => {
                let mut v = s.read(i).map_err(spill_err)?;
                v.par_sort_unstable();
                v
            }
            (None, None) => sorted_hashes(t.lazy(), key_text(key), pass).map_err(err)?,
        };
        candidates.par_extend(v.par_windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]));
        if keep_hashes {
            if passes.len() == 1 {
                kept = Some(TappedHashes::Sorted(v));
            } else if let Some(s) = spilled.as_mut() {
                s.rewrite(i, &v).map_err(spill_err)?;
            }
        }
    }
    if keep_hashes && let Some(s) = spilled {
        kept = Some(TappedHashes::Spilled(s));
    }
    candidates.dedup();
    let mut parent = kept;
    // A repeated hash is a repeated key (all its rows set aside) or two keys that collide:
    // the hashes are distinct only if none repeats.
    let hashes_distinct = candidates.is_empty();
    let done = |finding, parent: Option<TappedHashes>| Duplicates {
        finding,
        parent: parent.and_then(|kept| {
            Some(ParentHashes {
                table: t.spec.name,
                kept: match kept {
                    TappedHashes::Sorted(sorted) => {
                        KeptHashes::Index(Arc::new(HashIndex::new(sorted)?))
                    }
                    TappedHashes::Spilled(s) => KeptHashes::Spilled(Arc::new(s)),
                },
            })
        }),
        hashes_distinct,
    };
    if candidates.is_empty() {
        return Ok(done(None, parent));
    }
    // Confirm on the text: equal hashes of different keys are not duplicates.
    let df = t
        .lazy()
        .filter(hashed(key_text(key)).is_in(list_of_u64(candidates), false))
        .group_by([key_text(key).alias("__key")])
        .agg([len().alias("__n")])
        .filter(col("__n").gt(lit(1)))
        .collect()
        .map_err(err)?;
    if df.height() == 0 {
        return Ok(done(None, parent));
    }
    let (keys, n) = counted_keys(df.clone()).map_err(err)?;
    if let Some(p) = parent.as_mut() {
        // The rows of each repeated key's hash, set aside. A hash keeps its place among the
        // parent's keys while it has more rows than that: a kept key whose hash equals a
        // repeated key's must still be found by its children.
        let per_key = df
            .column("__n")
            .and_then(|c| c.cast(&DataType::UInt64))
            .map_err(err)?;
        let mut gone: Vec<(u64, u64)> = keys
            .str()
            .map_err(err)?
            .iter()
            .zip(per_key.u64().map_err(err)?.iter())
            .filter_map(|(k, n)| Some((hash_key(k?), n?)))
            .collect();
        gone.sort_unstable();
        match p {
            TappedHashes::Sorted(v) => *v = without_rows(v, &gone),
            TappedHashes::Spilled(s) => {
                for i in 0..s.passes() {
                    let v = s.read(i).map_err(spill_err)?;
                    let w = without_rows(&v, &gone);
                    if w.len() != v.len() {
                        s.rewrite(i, &w).map_err(spill_err)?;
                    }
                }
            }
        }
    }
    let finding = Finding {
        rule: "duplicate_key".into(),
        description: format!(
            "the key ({}) repeats: every row of a repeated key is set aside",
            key.join(", ")
        ),
        rows: n,
        bad: key_text(key).is_in(list_of_text(&keys), false),
    };
    Ok(done(Some(finding), parent))
}

/// The rows of `t` (those kept so far) whose `column` is not the key of a kept row of
/// `parent`, by a scan of their own (when no lookup during the row-rule scan stood);
/// `known` is the parent's kept key hashes, if at hand.
pub fn orphans(
    t: &LoadedTable,
    column: &str,
    parent: &LoadedTable,
    parent_rows: u64,
    rows: u64,
    known: Option<&ParentHashes>,
    limits: KeyLimits,
) -> Result<Option<Finding>, ExtractError> {
    let err = |e| ExtractError::read(&t.source, e);
    let pk = parent.spec.key[0];
    let df = if parent_rows <= limits.join_parent_max_rows {
        t.lazy()
            .select([col(column).alias("__key")])
            .filter(col("__key").is_not_null())
            .join(
                parent.lazy().select([col(pk).alias("__key")]),
                [col("__key")],
                [col("__key")],
                JoinArgs::new(JoinType::Anti),
            )
            .group_by([col("__key")])
            .agg([len().alias("__n")])
            .collect_with_engine(Engine::Streaming)
            .map_err(err)?
            .unwrap_single()
    } else {
        let mut missing = Vec::new();
        let cached = known
            .filter(|h| h.table == parent.spec.name)
            .map(|h| &h.kept);
        // A spilled parent's passes, already sorted in their files, set the passes.
        let passes = match cached {
            Some(KeptHashes::Spilled(s)) => Pass::with_bits(s.bits()),
            _ => Pass::all(parent_rows.max(rows), limits.pass_bytes),
        };
        for (i, &pass) in passes.iter().enumerate() {
            let mut c = sorted_hashes(t.lazy(), col(column), pass).map_err(err)?;
            match cached {
                // Looked up in the parent's index, the child's distinct hashes on both cores.
                Some(KeptHashes::Index(index)) if pass.bits == 0 => {
                    c.dedup();
                    missing.extend(index.missing_on_all_cores(&c));
                }
                Some(KeptHashes::Spilled(s)) => {
                    missing.extend(absent_from(&c, &s.read(i).map_err(spill_err)?));
                }
                _ => {
                    let p = sorted_hashes(parent.lazy(), col(pk), pass).map_err(err)?;
                    missing.extend(absent_from(&c, &p));
                }
            }
        }
        return hashed_orphans(t, column, parent, missing);
    };
    orphan_finding(t, column, parent, df)
}

/// The orphan rule of `column` from the hashes of its values missing from the parent's kept
/// keys (`missing`, from the rows as read or kept): the rows kept with those values, counted by
/// their text.
pub fn hashed_orphans(
    t: &LoadedTable,
    column: &str,
    parent: &LoadedTable,
    missing: Vec<u64>,
) -> Result<Option<Finding>, ExtractError> {
    if missing.is_empty() {
        return Ok(None);
    }
    let df = t
        .lazy()
        .filter(hashed(col(column)).is_in(list_of_u64(missing), false))
        .group_by([col(column).alias("__key")])
        .agg([len().alias("__n")])
        .collect()
        .map_err(|e| ExtractError::read(&t.source, e))?;
    orphan_finding(t, column, parent, df)
}

/// The distinct values of sorted `child` that sorted `parent` lacks, in order. The child is
/// cut into slices merged on both cores, each from where its first value would stand in the
/// parent (a serial merge of the diagnoses' 45.7 M claim hashes with the claims' 79 M took
/// ~0.4 s on one core of two).
fn absent_from(child: &[u64], parent: &[u64]) -> Vec<u64> {
    const SLICE: usize = 1 << 20;
    let parts: Vec<Vec<u64>> = child
        .par_chunks(SLICE)
        .map(|c| {
            let Some(&first) = c.first() else {
                return Vec::new();
            };
            let mut i = parent.partition_point(|&p| p < first);
            let mut out = Vec::new();
            for &x in c {
                while i < parent.len() && parent[i] < x {
                    i += 1;
                }
                if i == parent.len() || parent[i] != x {
                    out.push(x);
                }
            }
            out
        })
        .collect();
    // Sorted, so a value repeated in the child (within a slice or across two) is removed here.
    let mut missing = parts.concat();
    missing.dedup();
    missing
}

/// The orphan rule of `column` from its missing keys (`__key`) and their rows (`__n`).
fn orphan_finding(
    t: &LoadedTable,
    column: &str,
    parent: &LoadedTable,
    df: DataFrame,
) -> Result<Option<Finding>, ExtractError> {
    let err = |e| ExtractError::read(&t.source, e);
    if df.height() == 0 {
        return Ok(None);
    }
    let (keys, n) = counted_keys(df).map_err(err)?;
    Ok(Some(Finding {
        rule: format!("orphan:{column}"),
        description: format!(
            "`{column}` is not in {} (or its {} row was set aside)",
            parent.spec.name, parent.spec.name
        ),
        rows: n,
        bad: col(column).is_in(list_of_text(&keys), false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rows tap keeps the rows the rules keep where `keep` holds (a null rule flag keeps the
    /// row, a null `keep` does not), counts every row the rules keep, and keeps none once more
    /// than its limit are wanted, whatever the chunks after.
    #[test]
    fn a_rows_tap_keeps_the_wanted_rows_up_to_its_limit() {
        let chunk = |bad: &[Option<bool>], keep: &[Option<bool>], ids: &[&str]| {
            let bad: BooleanChunked = bad.iter().copied().collect();
            let keep = Column::new("__rows_keep".into(), keep);
            let ids = Column::new("x".into(), ids);
            (bad, vec![keep, ids])
        };
        let names = vec!["claim_id".to_string()];
        let sink = Mutex::new(RowsSink::default());
        let (bad, cols) = chunk(
            &[Some(false), Some(true), None, Some(false)],
            &[Some(true), Some(true), Some(true), None],
            &["a", "b", "c", "d"],
        );
        keep_rows(&bad, &cols, &names, 3, &sink).unwrap();
        {
            let s = sink.lock().unwrap();
            assert_eq!((s.seen, s.held, s.overflow), (3, 2, false));
            let kept: Vec<Option<&str>> = s.frames[0]
                .column("claim_id")
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(kept, [Some("a"), Some("c")]);
        }
        let (bad, cols) = chunk(&[Some(false); 2], &[Some(true); 2], &["e", "f"]);
        keep_rows(&bad, &cols, &names, 3, &sink).unwrap();
        let (bad, cols) = chunk(&[Some(false)], &[Some(true)], &["g"]);
        keep_rows(&bad, &cols, &names, 3, &sink).unwrap();
        let s = sink.lock().unwrap();
        assert_eq!((s.seen, s.held, s.overflow), (6, 0, true));
        assert!(s.frames.is_empty());
    }

    /// A hash index finds exactly its hashes, told apart by their top `bits + 40` bits, at
    /// both ends of the range, at the edges of its buckets and in a bucket holding several,
    /// whatever the size (none, one bucket, many). `u` is the least difference it tells.
    #[test]
    fn a_hash_index_finds_exactly_its_hashes_across_bucket_edges() {
        let empty = HashIndex::new(Vec::new()).unwrap();
        assert!(!empty.contains(0) && !empty.contains(u64::MAX));
        assert_eq!(empty.missing(&[0, 5]), [0, 5]);

        // One bucket: the top 40 bits are kept.
        let u = 1u64 << 24;
        let one = HashIndex::new(vec![0, 7 * u, u64::MAX]).unwrap();
        assert_eq!(one.bits, 0);
        assert!(one.contains(0) && one.contains(7 * u) && one.contains(u64::MAX));
        assert_eq!(
            one.missing(&[0, u, 7 * u, 8 * u, u64::MAX - u, u64::MAX]),
            [u, 8 * u, u64::MAX - u]
        );
        // What the index does not keep: a hash differing only in the bits below is found.
        assert!(one.contains(u - 1) && one.contains(7 * u + 1));

        // 256 buckets' worth of hashes (top 8 bits, then 40 kept). Each bucket's first and
        // last possible values are in, as are three equal hashes; their neighbours are not.
        let u = 1u64 << (64 - 8 - HashIndex::KEPT_BITS);
        let mut sorted: Vec<u64> = Vec::new();
        for b in 0..256u64 {
            let lo = b << 56;
            let hi = lo | ((1 << 56) - 1);
            sorted.extend([lo, lo + 2 * u, hi - 2 * u, hi]);
        }
        sorted.extend([(9 << 56) | (100 * u); 3]);
        while sorted.len() < 256 * HashIndex::PER_BUCKET {
            sorted.push((200 << 56) | (sorted.len() as u64 * 1000 * u));
        }
        sorted.sort_unstable();
        let index = HashIndex::new(sorted.clone()).unwrap();
        assert_eq!(index.bits, 8);
        assert_eq!(index.len(), sorted.len());
        assert_eq!(*index.starts.last().unwrap() as usize, sorted.len());
        // 5 bytes a hash (and a word of padding).
        assert_eq!(index.packed.len(), (sorted.len() * 5).div_ceil(8) + 1);
        for (i, &h) in sorted.iter().enumerate() {
            assert!(index.contains(h), "{h:#x}");
            assert_eq!(index.at(i), HashIndex::kept(h, 8), "{i}");
        }
        let mut probes: Vec<u64> = Vec::new();
        let mut absent: Vec<u64> = Vec::new();
        for b in 0..256u64 {
            let lo = b << 56;
            let hi = lo | ((1 << 56) - 1);
            probes.extend([lo, lo + u, lo + 2 * u, hi - u, hi]);
            absent.extend([lo + u, hi - u]);
        }
        assert_eq!(index.missing(&probes), absent);
        // Unsorted probes, a repeated one: the same answers, in the probes' order.
        assert_eq!(
            index.missing(&[u64::MAX - u, (9 << 56) | (100 * u), 3 * u, 3 * u, 0]),
            [u64::MAX - u, 3 * u, 3 * u]
        );
    }

    /// Packing a hash's kept bits into the words that held the hashes reads each hash
    /// before its word is written, whatever the count (one word's worth more or less).
    #[test]
    fn packed_hashes_read_back_as_they_were_for_every_count() {
        for n in [1usize, 2, 3, 7, 8, 9, 15, 16, 17, 100] {
            let sorted: Vec<u64> = (0..n as u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let index = HashIndex::new(sorted.clone()).unwrap();
            for (i, &h) in sorted.iter().enumerate() {
                assert_eq!(index.at(i), HashIndex::kept(h, index.bits), "n {n}, {i}");
            }
            assert!(index.missing(&sorted).is_empty(), "n {n}");
        }
    }

    #[test]
    fn a_repeated_keys_hash_stays_while_a_kept_key_shares_it() {
        // Hash 5: a key repeated twice (both rows set aside) and, by a collision, one kept key.
        // Hash 7: only a repeated key. Hash 9: kept keys only.
        let sorted = [1, 5, 5, 5, 7, 7, 9, 9];
        assert_eq!(without_rows(&sorted, &[(5, 2), (7, 2)]), [1, 5, 9, 9]);
        assert_eq!(without_rows(&sorted, &[(5, 3)]), [1, 7, 7, 9, 9]);
        assert_eq!(without_rows(&sorted, &[]), sorted);
        assert_eq!(without_rows(&[], &[(5, 1)]), Vec::<u64>::new());
    }

    #[test]
    fn absent_from_lists_each_missing_child_value_once_across_slice_boundaries() {
        let parent: Vec<u64> = (0..3_000_000u64).map(|x| x * 2).collect();
        // Odd values are missing; 2_000_001 repeats across the first slice boundary (2^20).
        let mut child: Vec<u64> = vec![0, 1, 1, 4, 5];
        child.extend(std::iter::repeat_n(6, (1 << 20) - child.len() - 1));
        child.extend([
            2_000_001, 2_000_001, 2_000_002, 5_999_998, 5_999_999, 6_000_001,
        ]);
        assert_eq!(
            absent_from(&child, &parent),
            [1, 5, 2_000_001, 5_999_999, 6_000_001]
        );
        assert_eq!(absent_from(&[], &parent), Vec::<u64>::new());
        assert_eq!(absent_from(&[3, 3], &[]), [3]);
    }

    /// Runs `taps` over one frame of `column` (text) with the rules' flags `bad`, as a
    /// row-rule pass does.
    fn tapped(taps: &Taps, column: &str, values: &[Option<&str>], bad: &[bool]) {
        let df = df!(column => values, "bad" => bad).unwrap();
        let out = taps
            .prepare(df.lazy())
            .select([taps.tap(col("bad")).cast(DataType::UInt64).sum().alias("n")])
            .collect()
            .unwrap();
        let n = out.column("n").unwrap().get(0).unwrap().extract::<u64>();
        assert_eq!(n, Some(bad.iter().filter(|&&b| b).count() as u64));
    }

    /// A key too many for one pass is spilled by pass in the row-rule scan: every kept row's
    /// hash, none of a row the rules set aside or a null key, each in the pass of its top
    /// bits. A child's references to that spilled parent are spilled by the same passes and
    /// looked up afterwards: the missing ones are exactly the values the parent lacks, once
    /// each, and the rows counted are the child's kept rows with a value.
    #[test]
    fn spilled_keys_and_their_childrens_lookups_find_what_one_pass_finds() {
        let keys: Vec<String> = (0..200).map(|i| format!("C{i:04}")).collect();
        let mut values: Vec<Option<&str>> = keys.iter().map(|k| Some(k.as_str())).collect();
        values.push(None);
        values.push(Some("SET-ASIDE"));
        let mut bad = vec![false; values.len()];
        *bad.last_mut().unwrap() = true;
        let mut taps = Taps::default();
        taps.want("__key", col("claim_id"), 0, 4).unwrap();
        tapped(&taps, "claim_id", &values, &bad);
        let mut cols = taps.take_sorted().unwrap();
        let TappedHashes::Spilled(spilled) = cols.remove(0).hashes else {
            panic!("four passes are spilled");
        };
        assert_eq!((spilled.passes(), spilled.len()), (4, 200));
        let mut all = Vec::new();
        for i in 0..4 {
            let pass = spilled.read(i).unwrap();
            assert!(pass.iter().all(|&h| (h >> 62) as usize == i), "pass {i}");
            all.extend(pass);
        }
        all.sort_unstable();
        let mut expected: Vec<u64> = keys.iter().map(|k| hash_key(k)).collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
        // The parent's passes sorted in their files, as the duplicate check leaves them.
        let mut spilled = spilled;
        for i in 0..4 {
            let mut v = spilled.read(i).unwrap();
            v.sort_unstable();
            spilled.rewrite(i, &v).unwrap();
        }
        let parent = KeptHashes::Spilled(Arc::new(spilled));
        // A child: runs of one claim, two values the parent lacks (one twice, apart), a null,
        // and a row set aside whose value is missing too (not looked up).
        let child: Vec<Option<&str>> = vec![
            Some("C0001"),
            Some("C0001"),
            Some("NOPE"),
            Some("C0199"),
            None,
            Some("ALSO-NOPE"),
            Some("NOPE"),
            Some("GONE"),
        ];
        let child_bad = [false, false, false, false, false, false, false, true];
        let mut probe = Taps::default();
        probe.probe_hashes("claim_id", &parent, 10);
        tapped(&probe, "claim_id", &child, &child_bad);
        let r = probe.take_hash_probe("claim_id").unwrap().unwrap();
        assert_eq!(r.rows, 6);
        let mut missing = vec![hash_key("NOPE"), hash_key("ALSO-NOPE")];
        missing.sort_unstable();
        assert_eq!(r.missing, Some(missing));
        // Room for one missing hash only: the probe gives up (and the check scans).
        let mut probe = Taps::default();
        probe.probe_hashes("claim_id", &parent, 1);
        tapped(&probe, "claim_id", &child, &child_bad);
        let r = probe.take_hash_probe("claim_id").unwrap().unwrap();
        assert_eq!((r.rows, r.missing), (6, None));
    }

    #[test]
    fn passes_split_by_the_top_bits_and_cover_every_hash() {
        assert_eq!(Pass::all(0, PASS_BYTES).len(), 1);
        assert_eq!(Pass::all(PASS_BYTES / 8, PASS_BYTES).len(), 1);
        let p = Pass::all(PASS_BYTES / 8 + 1, PASS_BYTES);
        assert_eq!(p.len(), 2);
        let p = Pass::all(3 * PASS_BYTES / 8, PASS_BYTES);
        assert_eq!(p.len(), 4);
        // Each hash falls in exactly one of the four passes.
        for h in [
            0,
            1,
            u64::MAX / 4,
            u64::MAX / 4 + 1,
            u64::MAX / 2 + 7,
            u64::MAX,
        ] {
            let holding: Vec<u64> = p.iter().filter(|p| p.holds(h)).map(|p| p.index).collect();
            assert_eq!(holding, [h / (1 << 62)], "{h}");
        }
    }
}
