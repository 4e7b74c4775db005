//! Loading an extract: find each contract table in a directory (a directory of Parquet parts,
//! a `.parquet` file or a `.csv` file, in that order), check its columns against the contract
//! and hand it on as a Polars [`LazyFrame`] with the contract's names and dtypes.
//!
//! Nothing here reads a table's rows: Parquet schemas come from the files' footers and CSV
//! schemas from their header lines, so opening a national extract costs milliseconds. A
//! [`Mapping`] can rename and convert a warehouse's own columns on the way in.

mod mapping;

pub use mapping::{Mapping, MappingError};

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Deserialize;

use crate::contract::{self, ColType, Table};

/// Where a table was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableSource {
    /// `TABLE/` holding `*.parquet` parts (listed in byte order of their names).
    ParquetParts {
        dir: PathBuf,
        parts: Vec<PathBuf>,
    },
    ParquetFile(PathBuf),
    CsvFile(PathBuf),
    /// A CSV file in another encoding than UTF-8, read through its UTF-8 copy (line for line:
    /// the line numbers of messages are the original's).
    CsvTranscoded {
        path: PathBuf,
        utf8: Transcoded,
    },
    /// An optional table that the extract does not have: an empty frame stands in for it.
    Absent,
}

/// Text encoding of CSV inputs (Parquet text is UTF-8 by its format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputEncoding {
    #[default]
    Utf8,
    /// CP949 (UHC, a superset of EUC-KR), as older Korean systems export: each CSV file is
    /// transcoded to a temporary UTF-8 copy, line for line, before it is read.
    Cp949,
}

/// The temporary UTF-8 copy of a transcoded CSV file; deleted when the last table reading it
/// is dropped (a killed run leaves it in the temporary directory: `balgul-cp949-*.csv`).
#[derive(Debug, Clone)]
pub struct Transcoded(Arc<tempfile::TempPath>);

impl Transcoded {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl PartialEq for Transcoded {
    fn eq(&self, other: &Self) -> bool {
        self.path() == other.path()
    }
}

impl Eq for Transcoded {}

impl TableSource {
    /// The files that make up the table, for hashing and messages.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            TableSource::ParquetParts { parts, .. } => parts.clone(),
            TableSource::ParquetFile(p)
            | TableSource::CsvFile(p)
            | TableSource::CsvTranscoded { path: p, .. } => vec![p.clone()],
            TableSource::Absent => vec![],
        }
    }

    /// The UTF-8 text a CSV reader opens: the file itself, or its transcoded copy (`None`
    /// for Parquet and absent tables).
    pub fn csv_text(&self) -> Option<&Path> {
        match self {
            TableSource::CsvFile(p) => Some(p),
            TableSource::CsvTranscoded { utf8, .. } => Some(utf8.path()),
            _ => None,
        }
    }

    /// The path to name in messages.
    pub fn display_path(&self) -> String {
        match self {
            TableSource::ParquetParts { dir, .. } => format!("{}/", dir.display()),
            TableSource::ParquetFile(p)
            | TableSource::CsvFile(p)
            | TableSource::CsvTranscoded { path: p, .. } => p.display().to_string(),
            TableSource::Absent => "(absent)".to_string(),
        }
    }
}

/// One loaded table: where it came from and its lazy frame, already in contract form.
#[derive(Clone)]
pub struct LoadedTable {
    pub spec: &'static Table,
    pub source: TableSource,
    /// Every row, as read.
    lf: LazyFrame,
    /// True for a row set aside by validation (see [`Extract::set_aside`]).
    set_aside: Option<Expr>,
    /// Transcoded copies of other tables that `lf` reads (a mapped table borrowing claims'
    /// columns), kept for as long as this table is.
    borrowed: Vec<Transcoded>,
    /// Validation found the 64-bit hashes of the kept rows' keys all distinct (see
    /// [`crate::validate::keys`]): a join on the key's hash is then a join on the key.
    key_hashes_distinct: bool,
    /// Read as it is from `TABLE/` Parquet parts (not through a mapping), so each part can
    /// be read alone ([`LoadedTable::part_lazy`]).
    plain_parts: bool,
    /// The rows the features may count, kept in memory by validation's pass (see
    /// [`KeptRows`]); dropped if any row is set aside afterwards.
    kept_rows: Option<std::sync::Arc<KeptRows>>,
    /// The distinct counts validation's pass took for the features (see [`KeptDistinct`]);
    /// dropped if any row is set aside afterwards.
    kept_distinct: Vec<std::sync::Arc<KeptDistinct>>,
}

/// What a screening asks validation to keep of a table while its pass reads it: the rows
/// that pass any of `covers` (the features' cheap predicates on the table, see
/// `plan::rows_wanted`), with `columns`. The features then read those rows from memory
/// instead of scanning the table again.
/// A table without `covers` keeps no row; `distinct` asks for distinct counts instead.
#[derive(Clone)]
pub struct RowsWanted {
    pub table: &'static str,
    pub covers: Vec<Expr>,
    pub columns: Vec<String>,
    pub distinct: Vec<DistinctWanted>,
}

/// A distinct count per person that a screening asks validation to take while its pass reads
/// a table (a `count_distinct` feature, see `plan::rows_wanted`): the distinct non-null
/// values of `value` over the rows where `keep` holds (null meaning false).
#[derive(Clone, PartialEq)]
pub struct DistinctWanted {
    pub keep: Expr,
    pub value: Expr,
}

/// A [`DistinctWanted`] as validation took it: `counts` has one row per person hash with a
/// value (columns [`crate::validate::distinct::PERSON_HASH`] and
/// [`crate::validate::distinct::COUNT`]).
pub struct KeptDistinct {
    pub wanted: DistinctWanted,
    pub counts: DataFrame,
}

/// The rows of a table kept by validation for the features ([`RowsWanted`]): every row
/// kept (none was set aside) that passes any of `covers`, sorted by all their columns so
/// that the order does not depend on the threads.
pub struct KeptRows {
    pub covers: Vec<Expr>,
    pub rows: DataFrame,
}

impl LoadedTable {
    pub fn new(spec: &'static Table, source: TableSource, lf: LazyFrame) -> LoadedTable {
        LoadedTable {
            spec,
            source,
            lf,
            set_aside: None,
            borrowed: Vec::new(),
            key_hashes_distinct: false,
            plain_parts: false,
            kept_rows: None,
            kept_distinct: Vec::new(),
        }
    }

    /// The rows validation kept in memory for the features, if it did (see [`KeptRows`]).
    pub fn kept_rows(&self) -> Option<&KeptRows> {
        self.kept_rows.as_deref()
    }

    /// The distinct counts per person hash validation took as `wanted`, if it did (see
    /// [`KeptDistinct`]).
    pub fn kept_distinct(&self, wanted: &DistinctWanted) -> Option<&DataFrame> {
        self.kept_distinct
            .iter()
            .find(|k| &k.wanted == wanted)
            .map(|k| &k.counts)
    }

    /// How many Parquet parts the table has, when each can be read alone (see
    /// [`LoadedTable::part_lazy`]).
    pub fn part_count(&self) -> Option<usize> {
        match &self.source {
            TableSource::ParquetParts { parts, .. } if self.plain_parts => Some(parts.len()),
            _ => None,
        }
    }

    /// Part `k` of the table alone (in the order of [`TableSource::ParquetParts`]), as
    /// [`LoadedTable::lazy`] gives the whole: the contract's columns, without the rows set
    /// aside (the rules that set rows aside read one row at a time). `None` unless
    /// [`LoadedTable::part_count`] is.
    pub fn part_lazy(&self, k: usize) -> Option<Result<LazyFrame, ExtractError>> {
        if k >= self.part_count()? {
            return None;
        }
        let part = TableSource::ParquetFile(self.source.files().swap_remove(k));
        Some(scan_conformed(&part, self.spec, None).map(|lf| self.kept(lf)))
    }

    /// What the Parquet footers say of each of `columns` over every row group of every part
    /// (no data is read), for a table read as it is from Parquet parts: its columns are the
    /// files' own, cast only where that loses nothing (`compatible`). Unknown (`None`
    /// fields) for every column of a table read otherwise (CSV, a single file, through a
    /// mapping) or whose footers cannot be read (the scans will say why).
    pub fn footer_statistics(&self, columns: &[&str]) -> Vec<FooterStatistics> {
        let unknown = vec![FooterStatistics::default(); columns.len()];
        if self.part_count().is_none() {
            return unknown;
        }
        let mut acc: Vec<FooterAcc> = vec![FooterAcc::default(); columns.len()];
        for path in self.source.files() {
            let meta = std::fs::File::open(&path)
                .ok()
                .and_then(|mut f| polars_parquet::parquet::read::read_metadata(&mut f).ok());
            let Some(meta) = meta else {
                return unknown;
            };
            for group in &meta.row_groups {
                for (a, column) in acc.iter_mut().zip(columns) {
                    let stats = group
                        .columns_under_root_iter(column)
                        .and_then(|mut chunks| {
                            let chunk = chunks.next().filter(|_| chunks.len() == 0)?;
                            chunk.statistics(&meta.footer_buf)?.ok()
                        });
                    a.add(stats.as_ref(), group.num_rows());
                }
            }
        }
        acc.into_iter().map(FooterAcc::finish).collect()
    }

    /// Whether validation found the hashes of the kept keys all distinct.
    pub fn key_hashes_distinct(&self) -> bool {
        self.key_hashes_distinct
    }

    /// This table, its frame reading `other`'s files too: `other`'s transcoded copy (if
    /// any) is kept alive with it.
    pub(crate) fn reading(mut self, other: &LoadedTable) -> LoadedTable {
        if let TableSource::CsvTranscoded { utf8, .. } = &other.source {
            self.borrowed.push(utf8.clone());
        }
        self.borrowed.extend(other.borrowed.iter().cloned());
        self
    }

    /// The table as a lazy frame with exactly the contract's columns, in contract order,
    /// without the rows set aside by validation.
    pub fn lazy(&self) -> LazyFrame {
        self.kept(self.lf.clone())
    }

    /// `lf` (rows of this table as read) without the rows set aside.
    fn kept(&self, lf: LazyFrame) -> LazyFrame {
        match &self.set_aside {
            Some(bad) => lf.filter(bad.clone().not()),
            None => lf,
        }
    }

    /// Every row of the table as read, the rows set aside included (for row numbers in
    /// messages and for the quarantine file).
    pub fn raw_lazy(&self) -> LazyFrame {
        self.lf.clone()
    }

    /// True for a row set aside so far (`false` when none is).
    pub fn set_aside_expr(&self) -> Expr {
        self.set_aside.clone().unwrap_or(lit(false))
    }
}

/// `extract.toml`: facts about the extract as a whole.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExtractMeta {
    /// The reference date of the extract.
    pub as_of: Option<NaiveDate>,
    pub source: Option<String>,
    pub description: Option<String>,
}

/// An opened extract: its metadata and one lazy frame per contract table.
#[derive(Clone)]
pub struct Extract {
    pub dir: PathBuf,
    pub meta: ExtractMeta,
    tables: Vec<LoadedTable>,
}

impl Extract {
    /// Opens the extract in `dir`, expecting the contract's own names.
    pub fn open(dir: &Path) -> Result<Extract, ExtractError> {
        Self::open_with(dir, None)
    }

    /// Opens the extract in `dir`, converting it with `mapping` when one is given.
    pub fn open_with(dir: &Path, mapping: Option<&Mapping>) -> Result<Extract, ExtractError> {
        Self::open_encoded(dir, mapping, InputEncoding::Utf8)
    }

    /// Opens the extract in `dir` (through `mapping` when one is given), its CSV files in
    /// `encoding`.
    pub fn open_encoded(
        dir: &Path,
        mapping: Option<&Mapping>,
        encoding: InputEncoding,
    ) -> Result<Extract, ExtractError> {
        if !dir.is_dir() {
            return Err(ExtractError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let meta = read_meta(dir)?;
        let mut tables = Vec::with_capacity(contract::TABLES.len());
        for spec in contract::TABLES {
            let loaded = match mapping {
                Some(m) => m.load(dir, spec, &tables, encoding)?,
                None => load_table(dir, spec, spec.name, None, encoding)?,
            };
            tables.push(loaded);
        }
        Ok(Extract {
            dir: dir.to_path_buf(),
            meta,
            tables,
        })
    }

    /// A table by contract name. Every contract table is present (an absent optional one as
    /// an empty frame), so this panics only on a name that is not in the contract.
    pub fn table(&self, name: &str) -> &LoadedTable {
        self.tables
            .iter()
            .find(|t| t.spec.name == name)
            .unwrap_or_else(|| panic!("`{name}` is not a table of the data contract"))
    }

    /// Leaves out of `table` every row for which `bad` (evaluated on the rows as read, null
    /// meaning false) is true, on top of those left out before: the rows set aside by
    /// validation are not seen by any later scan.
    pub fn set_aside(&mut self, table: &str, bad: Expr) {
        if let Some(t) = self.tables.iter_mut().find(|t| t.spec.name == table) {
            let bad = bad.fill_null(lit(false));
            t.kept_rows = None;
            t.kept_distinct.clear();
            t.set_aside = Some(match t.set_aside.take() {
                Some(before) => before.or(bad),
                None => bad,
            });
        }
    }

    /// Records that the kept keys of `table` have distinct 64-bit hashes (validation knows,
    /// from its duplicate check; rows set aside later keep it true).
    pub fn set_key_hashes_distinct(&mut self, table: &str) {
        if let Some(t) = self.tables.iter_mut().find(|t| t.spec.name == table) {
            t.key_hashes_distinct = true;
        }
    }

    /// Keeps `rows` of `table` in memory for the features (validation does, for a table it
    /// set no row of aside).
    pub fn keep_rows(&mut self, table: &str, rows: KeptRows) {
        if let Some(t) = self.tables.iter_mut().find(|t| t.spec.name == table) {
            t.kept_rows = Some(std::sync::Arc::new(rows));
        }
    }

    /// Keeps distinct counts of `table` for the features (validation does, for a table it
    /// set no row of aside).
    pub fn keep_distinct(&mut self, table: &str, kept: KeptDistinct) {
        if let Some(t) = self.tables.iter_mut().find(|t| t.spec.name == table) {
            t.kept_distinct.push(std::sync::Arc::new(kept));
        }
    }

    /// A table's lazy frame by contract name.
    pub fn lazy(&self, name: &str) -> LazyFrame {
        self.table(name).lazy()
    }

    pub fn tables(&self) -> impl Iterator<Item = &LoadedTable> {
        self.tables.iter()
    }

    /// The reference date to use: the one given, else the extract's `as_of`.
    pub fn reference_date(&self, given: Option<NaiveDate>) -> Result<NaiveDate, ExtractError> {
        given
            .or(self.meta.as_of)
            .ok_or_else(|| ExtractError::NoReferenceDate {
                dir: self.dir.clone(),
            })
    }

    /// Counts the rows of every table (one cheap pass each: Parquet answers from its footers).
    pub fn row_counts(&self) -> Result<Vec<(&'static str, u64)>, ExtractError> {
        let mut out = Vec::new();
        for t in self.tables.iter() {
            let n = count_rows(t)?;
            out.push((t.spec.name, n));
        }
        Ok(out)
    }
}

/// Counts a table's rows.
pub fn count_rows(t: &LoadedTable) -> Result<u64, ExtractError> {
    count_of(t, t.lazy())
}

/// The rows of a table as read, those set aside included (from the files' metadata where
/// they have it: no scan).
pub fn count_rows_as_read(t: &LoadedTable) -> Result<u64, ExtractError> {
    count_of(t, t.raw_lazy())
}

fn count_of(t: &LoadedTable, lf: LazyFrame) -> Result<u64, ExtractError> {
    let df = lf
        .select([len().alias("n")])
        .collect()
        .map_err(|e| ExtractError::read(&t.source, e))?;
    let n = df
        .column("n")
        .and_then(|c| c.get(0).map(|v| v.extract::<u64>().unwrap_or(0)))
        .map_err(|e| ExtractError::read(&t.source, e))?;
    Ok(n)
}

fn read_meta(dir: &Path) -> Result<ExtractMeta, ExtractError> {
    let path = dir.join("extract.toml");
    if !path.exists() {
        return Ok(ExtractMeta::default());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ExtractError::Io {
        path: path.clone(),
        source: e,
    })?;
    toml::from_str(&text).map_err(|e| ExtractError::BadMeta {
        path,
        message: e.message().to_string(),
        line: e.span().map(|s| line_of(&text, s.start)),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Finds the file(s) holding table `stem` in `dir`: `stem/` with Parquet parts, then
/// `stem.parquet`, then `stem.csv`.
pub fn locate(
    dir: &Path,
    stem: &str,
    encoding: InputEncoding,
) -> Result<Option<TableSource>, ExtractError> {
    let parts_dir = dir.join(stem);
    if parts_dir.is_dir() {
        let mut parts = Vec::new();
        let entries = std::fs::read_dir(&parts_dir).map_err(|e| ExtractError::Io {
            path: parts_dir.clone(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| ExtractError::Io {
                path: parts_dir.clone(),
                source: e,
            })?;
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "parquet") && p.is_file() {
                parts.push(p);
            }
        }
        if parts.is_empty() {
            return Err(ExtractError::EmptyPartsDir { path: parts_dir });
        }
        parts.sort();
        return Ok(Some(TableSource::ParquetParts {
            dir: parts_dir,
            parts,
        }));
    }
    let pq = dir.join(format!("{stem}.parquet"));
    if pq.is_file() {
        return Ok(Some(TableSource::ParquetFile(pq)));
    }
    let csv = dir.join(format!("{stem}.csv"));
    if csv.is_file() {
        return Ok(Some(match encoding {
            InputEncoding::Utf8 => TableSource::CsvFile(csv),
            InputEncoding::Cp949 => {
                let utf8 = transcode_cp949(&csv)?;
                TableSource::CsvTranscoded { path: csv, utf8 }
            }
        }));
    }
    Ok(None)
}

/// Opens the raw frame of a located source: Parquet as it is, CSV with every column as text
/// (so codes keep their leading zeros) except those `dtypes` names.
pub(crate) fn scan_source(
    source: &TableSource,
    dtypes: Option<Schema>,
) -> Result<LazyFrame, ExtractError> {
    match source {
        TableSource::ParquetParts { parts, .. } => {
            let paths = parts
                .iter()
                .map(|p| PlRefPath::try_from_path(p))
                .collect::<PolarsResult<Vec<_>>>()
                .map_err(|e| ExtractError::read(source, e))?;
            LazyFrame::scan_parquet_files(paths.into_iter().collect(), ScanArgsParquet::default())
                .map_err(|e| ExtractError::read(source, e))
        }
        TableSource::ParquetFile(p) => {
            let path = PlRefPath::try_from_path(p).map_err(|e| ExtractError::read(source, e))?;
            LazyFrame::scan_parquet(path, ScanArgsParquet::default())
                .map_err(|e| ExtractError::read(source, e))
        }
        TableSource::CsvFile(_) | TableSource::CsvTranscoded { .. } => {
            let p = source.csv_text().expect("a CSV source has a text to read");
            let path = PlRefPath::try_from_path(p).map_err(|e| ExtractError::read(source, e))?;
            LazyCsvReader::new(path)
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .with_dtype_overwrite(dtypes.map(Arc::new))
                .with_missing_is_null(true)
                .finish()
                .map_err(|e| ExtractError::read(source, e))
        }
        TableSource::Absent => unreachable!("an absent table has no source to scan"),
    }
}

/// Loads contract table `spec` from the file(s) named `stem` in `dir`, checking every contract
/// column's presence and type. `renamed` says, for messages, which source column a contract
/// column came from when a mapping renamed it.
pub(crate) fn load_table(
    dir: &Path,
    spec: &'static Table,
    stem: &str,
    renamed: Option<&dyn Fn(&str) -> String>,
    encoding: InputEncoding,
) -> Result<LoadedTable, ExtractError> {
    let Some(source) = locate(dir, stem, encoding)? else {
        if spec.required {
            return Err(ExtractError::MissingTable {
                dir: dir.to_path_buf(),
                table: spec.name,
                stem: stem.to_string(),
            });
        }
        return Ok(LoadedTable::new(
            spec,
            TableSource::Absent,
            empty_frame(spec),
        ));
    };
    let lf = scan_conformed(&source, spec, renamed)?;
    let mut t = LoadedTable::new(spec, source, lf);
    t.plain_parts = renamed.is_none();
    Ok(t)
}

/// A located source scanned and conformed to contract table `spec` (see [`conform`]).
fn scan_conformed(
    source: &TableSource,
    spec: &'static Table,
    renamed: Option<&dyn Fn(&str) -> String>,
) -> Result<LazyFrame, ExtractError> {
    let csv_dtypes = match source {
        TableSource::CsvFile(_) | TableSource::CsvTranscoded { .. } => Some(contract_schema(spec)),
        _ => None,
    };
    let mut raw = scan_source(source, csv_dtypes)?;
    let found = raw
        .collect_schema()
        .map_err(|e| ExtractError::read(source, e))?;
    conform(raw, &found, spec, source, renamed)
}

/// The contract schema of a table.
pub fn contract_schema(spec: &Table) -> Schema {
    spec.columns
        .iter()
        .map(|c| Field::new(c.name.into(), c.ty.dtype()))
        .collect()
}

/// An empty frame with a table's contract schema.
pub fn empty_frame(spec: &Table) -> LazyFrame {
    DataFrame::empty_with_schema(&contract_schema(spec)).lazy()
}

/// Whether a column of dtype `found` can stand for contract type `want` without loss, and so
/// is cast silently. Anything else is a schema error.
fn compatible(want: ColType, found: &DataType) -> bool {
    use DataType as D;
    match want {
        ColType::Str => matches!(found, D::String | D::Categorical(..) | D::Enum(..)),
        ColType::I32 => matches!(found, D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16),
        ColType::I64 => matches!(
            found,
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32
        ),
        ColType::F64 => matches!(
            found,
            D::Float32 | D::Float64 | D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16
        ),
        ColType::Bool => matches!(found, D::Boolean),
        ColType::Date => matches!(found, D::Date),
    }
}

/// Checks `found` against the contract and selects the contract columns, in contract order,
/// cast to the contract dtypes. Extra columns are left behind.
pub(crate) fn conform(
    raw: LazyFrame,
    found: &Schema,
    spec: &'static Table,
    source: &TableSource,
    renamed: Option<&dyn Fn(&str) -> String>,
) -> Result<LazyFrame, ExtractError> {
    let mut exprs = Vec::with_capacity(spec.columns.len());
    for c in spec.columns {
        let source_name = renamed.map(|f| f(c.name));
        let Some(dtype) = found.get(c.name) else {
            return Err(ExtractError::MissingColumn {
                file: source.display_path(),
                table: spec.name,
                column: c.name,
                mapped_from: source_name,
                expected: c.ty,
                found: found.iter_names().map(|n| n.to_string()).collect(),
            });
        };
        if !compatible(c.ty, dtype) {
            return Err(ExtractError::WrongType {
                file: source.display_path(),
                table: spec.name,
                column: c.name,
                mapped_from: source_name,
                expected: c.ty,
                found: dtype.to_string(),
            });
        }
        let e = col(c.name);
        exprs.push(if dtype == &c.ty.dtype() {
            e
        } else {
            e.cast(c.ty.dtype())
        });
    }
    Ok(raw.select(exprs))
}

/// Why an extract could not be opened. Every message names the file, the column, what was
/// expected and what was found, and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("`{}` is not a directory: --data takes the directory that holds the extract's tables", path.display())]
    NotADirectory { path: PathBuf },

    #[error(
        "the extract in `{}` has no `{table}` table: looked for `{stem}/` (a directory of Parquet parts), `{stem}.parquet` and `{stem}.csv`.\n  fix: add the table, or point --mapping at a file that says where it is",
        dir.display()
    )]
    MissingTable {
        dir: PathBuf,
        table: &'static str,
        stem: String,
    },

    #[error("`{}/` holds no `*.parquet` file: a table directory must hold the table's Parquet parts", path.display())]
    EmptyPartsDir { path: PathBuf },

    #[error("{file}: column `{column}`{} is missing (table `{table}`, expected type {}).\n  found columns: {}\n  fix: rename the column to `{column}`, or map it with --mapping", from_note(mapped_from), expected.name(), found.join(", "))]
    MissingColumn {
        file: String,
        table: &'static str,
        column: &'static str,
        mapped_from: Option<String>,
        expected: ColType,
        found: Vec<String>,
    },

    #[error("{file}: column `{column}`{} has type {found}, expected {} (table `{table}`).\n  fix: {}", from_note(mapped_from), expected.name(), type_fix(*expected))]
    WrongType {
        file: String,
        table: &'static str,
        column: &'static str,
        mapped_from: Option<String>,
        expected: ColType,
        found: String,
    },

    #[error("{}{}: {message}\n  extract.toml takes `as_of = \"YYYY-MM-DD\"`, `source = \"…\"` and `description = \"…\"`", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadMeta {
        path: PathBuf,
        message: String,
        line: Option<usize>,
    },

    #[error(
        "no reference date: the extract in `{}` has no `as_of` in extract.toml.\n  fix: pass --as-of YYYY-MM-DD",
        dir.display()
    )]
    NoReferenceDate { dir: PathBuf },

    #[error(transparent)]
    Mapping(#[from] MappingError),

    #[error("{file}: {message}")]
    Read { file: String, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Key hashes too many for memory could not be written to (or read from) a temporary file.
    #[error("{}: could not write key hashes to a temporary file there ({error}); past 1 GiB of them a table's are kept on disk while it is checked\n  fix: set TMPDIR to a directory with room: 8 bytes a row of the claims and of the diagnoses or prescriptions (~16 GB for a national year)", dir.display())]
    Spill { dir: PathBuf, error: std::io::Error },
}

impl ExtractError {
    pub(crate) fn read(source: &TableSource, e: PolarsError) -> ExtractError {
        let message = source
            .csv_text()
            .and_then(csv_diagnosis)
            .unwrap_or_else(|| polars_message(&e));
        ExtractError::Read {
            file: source.display_path(),
            message,
        }
    }
}

const UTF8_ALREADY: &str = "the file is UTF-8 text already, not CP949 (read as CP949, its Korean would turn into other characters)\n  fix: drop --input-encoding cp949";

/// A UTF-8 copy of the CP949 file `path`, streamed (the file may be larger than memory).
/// Newlines are single bytes in both encodings, so line N of the copy is line N of the
/// original. Bytes that are not CP949, or a file that reads as UTF-8 text already, are
/// refused with the line and the fix.
fn transcode_cp949(path: &Path) -> Result<Transcoded, ExtractError> {
    use encoding_rs::DecoderResult;
    use std::io::{BufReader, BufWriter, Read, Write};

    let io = |e: std::io::Error| ExtractError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let fail = |message: String| ExtractError::Read {
        file: path.display().to_string(),
        message,
    };
    let tmp_fail = |at: &Path, e: std::io::Error| ExtractError::Read {
        file: at.display().to_string(),
        message: format!(
            "{e} (writing the UTF-8 copy of {})\n  fix: free space there, or point TMPDIR at a disk with room for 1.5 × the file",
            path.display()
        ),
    };
    let mut input = BufReader::with_capacity(1 << 20, std::fs::File::open(path).map_err(io)?);
    let tmp = tempfile::Builder::new()
        .prefix("balgul-cp949-")
        .suffix(".csv")
        .tempfile()
        .map_err(|e| tmp_fail(&std::env::temp_dir(), e))?;
    let (file, tmp_path) = tmp.into_parts();
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut cp949 = encoding_rs::EUC_KR.new_decoder_without_bom_handling();
    let mut as_utf8 = encoding_rs::UTF_8.new_decoder_without_bom_handling();
    let mut inbuf = vec![0u8; 1 << 20];
    let mut outbuf = vec![0u8; (1 << 21) + 16];
    let mut scratch = vec![0u8; (1 << 20) + 16];
    // `wide`: a byte that starts a UTF-8 sequence of three or more bytes (Hangul is three);
    // a CP949 file of a few syllables can be valid two-byte UTF-8 by chance, not three.
    let (mut line, mut wide, mut valid_utf8) = (1u64, false, true);
    // The last bytes read before the current call: a malformed sequence may start there.
    let mut recent: Vec<u8> = Vec::with_capacity(8);
    loop {
        let n = input.read(&mut inbuf).map_err(io)?;
        let last = n == 0;
        if valid_utf8 {
            let mut rest = &inbuf[..n];
            loop {
                let (r, read, _) =
                    as_utf8.decode_to_utf8_without_replacement(rest, &mut scratch, last);
                rest = &rest[read..];
                match r {
                    DecoderResult::OutputFull => continue,
                    DecoderResult::Malformed(..) => valid_utf8 = false,
                    DecoderResult::InputEmpty => {}
                }
                break;
            }
            wide |= inbuf[..n].iter().any(|&b| b >= 0xE0);
        }
        let mut chunk = &inbuf[..n];
        loop {
            let src = chunk;
            let (r, read, written) =
                cp949.decode_to_utf8_without_replacement(src, &mut outbuf, last);
            let done = &outbuf[..written];
            line += done.iter().filter(|&&b| b == b'\n').count() as u64;
            out.write_all(done).map_err(|e| tmp_fail(&tmp_path, e))?;
            chunk = &src[read..];
            match r {
                DecoderResult::InputEmpty => {}
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(..) if valid_utf8 && wide => {
                    return Err(fail(format!("line {line}: {UTF8_ALREADY}")));
                }
                DecoderResult::Malformed(len, extra) => {
                    let mut seen = recent.clone();
                    seen.extend_from_slice(&src[..read]);
                    let end = seen.len() - usize::from(extra).min(seen.len());
                    let start = end.saturating_sub(usize::from(len));
                    let bytes: Vec<String> = seen[start..end]
                        .iter()
                        .map(|b| format!("{b:02X}"))
                        .collect();
                    return Err(fail(format!(
                        "line {line}: bytes that are not CP949 ({}){}\n  fix: check the file's encoding; without --input-encoding the file is read as UTF-8",
                        bytes.join(" "),
                        if last { ", at the end of the file" } else { "" }
                    )));
                }
            }
            if read >= 4 {
                recent.clear();
                recent.extend_from_slice(&src[read - 4..read]);
            } else {
                recent.extend_from_slice(&src[..read]);
                let drop = recent.len().saturating_sub(4);
                recent.drain(..drop);
            }
            if matches!(r, DecoderResult::InputEmpty) {
                break;
            }
        }
        if last {
            break;
        }
    }
    if valid_utf8 && wide {
        return Err(fail(UTF8_ALREADY.to_string()));
    }
    out.flush().map_err(|e| tmp_fail(&tmp_path, e))?;
    Ok(Transcoded(Arc::new(tmp_path)))
}

/// Why a CSV file cannot be read, with the line and the fix: bytes that are not UTF-8 (a
/// file exported as CP949/EUC-KR), or a record whose number of fields differs from the
/// header's (often a quote that is never closed). `None` when the file reads cleanly, so
/// the reader's own message stands.
pub fn csv_diagnosis(path: &Path) -> Option<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .ok()?;
    let mut rec = csv::ByteRecord::new();
    let mut width = None;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => return Some(format!("{e}")),
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if let Some(bad) = rec.iter().find(|f| std::str::from_utf8(f).is_err()) {
            let head = &bad[..bad.len().min(40)];
            let (as_cp949, _, errors) = encoding_rs::EUC_KR.decode(head);
            let why = if errors {
                format!("`{}`", String::from_utf8_lossy(head))
            } else {
                format!("it reads as `{as_cp949}` in CP949: the file was saved as CP949/EUC-KR")
            };
            return Some(format!(
                "line {line}: a field is not UTF-8 text ({why})\n  fix: pass --input-encoding cp949 if the extract's CSV files are CP949, or convert the file to UTF-8, e.g. `iconv -f CP949 -t UTF-8 {name} > {name}.utf8` and put that in its place",
                name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            ));
        }
        match width {
            None => width = Some(rec.len()),
            Some(w) if rec.len() != w => {
                let unclosed = rec.iter().any(|f| f.contains(&b'\n'));
                let first: String = String::from_utf8_lossy(rec.as_slice())
                    .chars()
                    .take(40)
                    .collect();
                return Some(format!(
                    "line {line}: {} field(s) where the header has {w}{}\n  fix: {}",
                    rec.len(),
                    if unclosed {
                        format!(
                            "; a quote `\"` opened on this line is never closed (`{}`…)",
                            first.replace('\n', " ")
                        )
                    } else {
                        String::new()
                    },
                    if unclosed {
                        "close the quote, or remove it"
                    } else {
                        "give every line as many fields as the header (quote fields that hold commas)"
                    }
                ));
            }
            Some(_) => {}
        }
    }
}

/// A Polars error as one readable line, without Polars' own backtrace hints.
pub fn polars_message(e: &PolarsError) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    first.to_string()
}

fn from_note(mapped_from: &Option<String>) -> String {
    match mapped_from {
        Some(s) => format!(" (mapped from `{s}`)"),
        None => String::new(),
    }
}

fn type_fix(t: ColType) -> &'static str {
    match t {
        ColType::Date => {
            "write it as a date column (Parquet DATE, or `YYYY-MM-DD` in CSV); a `YYYYMMDD` text column can be converted with a mapping: `col = \"ymd(SOURCE_COL)\"`"
        }
        ColType::Str => "write it as text (codes keep their leading zeros only as text)",
        ColType::I32 | ColType::I64 => "write it as whole numbers",
        ColType::F64 => "write it as numbers",
        ColType::Bool => "write it as true/false",
    }
}

impl fmt::Display for TableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_path())
    }
}

/// A value of a column's Parquet statistics, as [`LoadedTable::footer_statistics`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FooterValue {
    /// A signed integer column (INT32 or INT64, not annotated unsigned).
    Int(i64),
    /// A `DATE` column: days since 1970-01-01.
    Date(i32),
    /// A byte-array column's bytes (a min only: a writer may shorten a string's statistics,
    /// and a prefix of the least value is still no greater than it).
    Text(Vec<u8>),
}

/// What the Parquet footers say of one column over every row group of every part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FooterStatistics {
    /// Its nulls; `None` if some row group keeps no null count.
    pub nulls: Option<u64>,
    /// Its least value; `None` if some row group holding a value keeps no exact least value
    /// of a type read here, or no row group holds a value.
    pub min: Option<FooterValue>,
    /// Its greatest value, likewise (never for text: see [`FooterValue::Text`]).
    pub max: Option<FooterValue>,
}

/// The statistics of one column summed up row group by row group.
#[derive(Debug, Clone)]
struct FooterAcc {
    nulls: Option<u64>,
    min: Extreme,
    max: Extreme,
}

/// One extreme of a column over the row groups read so far.
#[derive(Debug, Clone)]
enum Extreme {
    /// No row group has held a value yet.
    NoValue,
    Known(FooterValue),
    /// A row group holding values left it unknown (or of another type): unknown for good.
    Unknown,
}

impl Default for FooterAcc {
    fn default() -> Self {
        FooterAcc {
            nulls: Some(0),
            min: Extreme::NoValue,
            max: Extreme::NoValue,
        }
    }
}

impl FooterAcc {
    fn add(
        &mut self,
        stats: Option<&polars_parquet::parquet::statistics::Statistics>,
        rows: usize,
    ) {
        let nulls = stats
            .and_then(|s| s.null_count())
            .and_then(|n| u64::try_from(n).ok());
        self.nulls = self.nulls.zip(nulls).map(|(a, b)| a + b);
        // A row group of nulls only has no extremes to give.
        if nulls == Some(rows as u64) {
            return;
        }
        let (lo, hi) = stats.map(footer_extremes).unwrap_or((None, None));
        fold_extreme(&mut self.min, lo, std::cmp::min);
        fold_extreme(&mut self.max, hi, std::cmp::max);
    }

    fn finish(self) -> FooterStatistics {
        let known = |e: Extreme| match e {
            Extreme::Known(v) => Some(v),
            Extreme::NoValue | Extreme::Unknown => None,
        };
        FooterStatistics {
            nulls: self.nulls,
            min: known(self.min),
            max: known(self.max),
        }
    }
}

/// `acc` with a row group's extreme `v` (of a group holding values) taken in by `pick`.
fn fold_extreme(
    acc: &mut Extreme,
    v: Option<FooterValue>,
    pick: fn(FooterValue, FooterValue) -> FooterValue,
) {
    *acc = match (std::mem::replace(acc, Extreme::Unknown), v) {
        (Extreme::NoValue, Some(v)) => Extreme::Known(v),
        (Extreme::Known(a), Some(v))
            if std::mem::discriminant(&a) == std::mem::discriminant(&v) =>
        {
            Extreme::Known(pick(a, v))
        }
        _ => Extreme::Unknown,
    };
}

/// A row group's least and greatest value of a column, where its type is one read here.
fn footer_extremes(
    s: &polars_parquet::parquet::statistics::Statistics,
) -> (Option<FooterValue>, Option<FooterValue>) {
    use polars_parquet::parquet::schema::types::{
        IntegerType as I, PrimitiveConvertedType as C, PrimitiveLogicalType as L,
    };
    use polars_parquet::parquet::statistics::Statistics as S;
    let signed = |logical: Option<L>, converted: Option<C>, wide: bool| {
        let logical_ok = match logical {
            None => true,
            Some(L::Integer(i)) => {
                matches!(i, I::Int8 | I::Int16 | I::Int32) || (wide && i == I::Int64)
            }
            Some(_) => false,
        };
        let converted_ok = match converted {
            None => true,
            Some(c) => matches!(c, C::Int8 | C::Int16 | C::Int32) || (wide && c == C::Int64),
        };
        logical_ok && converted_ok
    };
    match s {
        S::Int32(p) => {
            let t = &p.primitive_type;
            let date = t.logical_type == Some(L::Date) || t.converted_type == Some(C::Date);
            let to = |v: i32| {
                if date {
                    FooterValue::Date(v)
                } else {
                    FooterValue::Int(v.into())
                }
            };
            if date || signed(t.logical_type, t.converted_type, false) {
                (p.min_value.map(to), p.max_value.map(to))
            } else {
                (None, None)
            }
        }
        S::Int64(p) => {
            let t = &p.primitive_type;
            if signed(t.logical_type, t.converted_type, true) {
                (
                    p.min_value.map(FooterValue::Int),
                    p.max_value.map(FooterValue::Int),
                )
            } else {
                (None, None)
            }
        }
        S::Binary(b) => (b.min_value.clone().map(FooterValue::Text), None),
        _ => (None, None),
    }
}
