//! Key hashes too many for one pass ([`super::keys::PASS_BYTES`]), written to temporary files
//! by pass as a table is scanned, then read back one pass at a time (a Grace partitioning):
//! a parent's key hashes are tapped in its row-rule scan and each child's reference hashes in
//! the child's, as when they fit one pass, so no key column is scanned a second time and no
//! more than one pass's hashes are in memory at once.
//!
//! Before 2026-11-25 what did not fit one pass was hashed by scans of its own, one per pass and
//! per table: with the pass budget halved so that a 3 M-person extract took two passes, its
//! run took 135 s against ~66 s and peaked at 3.64 GiB against 2.4 GiB (the claims' key scanned
//! six times more, the diagnoses' and prescriptions' claim ids twice each).
//!
//! The files are anonymous temporary files in the system's temporary directory (`TMPDIR`),
//! gone when the run ends, whatever way it ends; they hold 8 bytes a hash in this machine's
//! byte order (written and read by the same process).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

/// The buffer of each pass's file while hashes are written to it.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Hashes being written to one temporary file per pass: the pass of a hash is its top `bits`
/// bits.
pub struct SpillWriter {
    bits: u32,
    files: Vec<BufWriter<File>>,
    counts: Vec<u64>,
    /// The first write that failed: nothing is written after it, and [`SpillWriter::finish`]
    /// returns it (so a full disk is reported as such once the scan is over, not as an error
    /// reading the table).
    failed: Option<std::io::Error>,
}

/// Hashes written by a [`SpillWriter`], one file per pass: pass `i` holds the hashes whose top
/// `bits` bits equal `i`.
#[derive(Debug)]
pub struct Spilled {
    bits: u32,
    files: Vec<File>,
    counts: Vec<u64>,
}

impl SpillWriter {
    /// A writer of `passes` passes (a power of two, at least 2).
    pub fn new(passes: usize) -> std::io::Result<SpillWriter> {
        debug_assert!(passes >= 2 && passes.is_power_of_two());
        let files = (0..passes)
            .map(|_| tempfile::tempfile().map(|f| BufWriter::with_capacity(WRITE_BUFFER_BYTES, f)))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(SpillWriter {
            bits: passes.trailing_zeros(),
            files,
            counts: vec![0; passes],
            failed: None,
        })
    }

    /// The pass of `h`.
    fn pass_of(bits: u32, h: u64) -> usize {
        (h >> (64 - bits)) as usize
    }

    /// Appends `hashes`, each to its pass's file (unless a write failed before).
    pub fn push(&mut self, hashes: &[u64]) {
        if self.failed.is_some() {
            return;
        }
        let mut by_pass: Vec<Vec<u64>> = vec![Vec::new(); self.files.len()];
        for &h in hashes {
            by_pass[Self::pass_of(self.bits, h)].push(h);
        }
        for ((part, file), count) in by_pass.iter().zip(&mut self.files).zip(&mut self.counts) {
            if let Err(e) = file.write_all(bytemuck::cast_slice(part)) {
                self.failed = Some(e);
                return;
            }
            *count += part.len() as u64;
        }
    }

    /// The hashes written, their files flushed, or the first write that failed; the writer is
    /// left empty.
    pub fn finish(&mut self) -> std::io::Result<Spilled> {
        if let Some(e) = self.failed.take() {
            self.files.clear();
            return Err(e);
        }
        let files = std::mem::take(&mut self.files)
            .into_iter()
            .map(|w| w.into_inner().map_err(|e| e.into_error()))
            .collect::<std::io::Result<Vec<File>>>()?;
        Ok(Spilled {
            bits: self.bits,
            files,
            counts: std::mem::take(&mut self.counts),
        })
    }
}

impl Spilled {
    /// How many passes.
    pub fn passes(&self) -> usize {
        self.files.len()
    }

    /// The top bits that say a hash's pass.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// How many hashes in all.
    pub fn len(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hashes of pass `i`, in the order written (or as last [`Spilled::rewrite`]n).
    pub fn read(&self, i: usize) -> std::io::Result<Vec<u64>> {
        let n = usize::try_from(self.counts[i]).map_err(std::io::Error::other)?;
        let mut v = vec![0u64; n];
        let mut f = &self.files[i];
        f.seek(SeekFrom::Start(0))?;
        f.read_exact(bytemuck::cast_slice_mut(&mut v))?;
        Ok(v)
    }

    /// Replaces the hashes of pass `i` by `hashes` (each must be of that pass).
    pub fn rewrite(&mut self, i: usize, hashes: &[u64]) -> std::io::Result<()> {
        debug_assert!(
            hashes
                .iter()
                .all(|&h| SpillWriter::pass_of(self.bits, h) == i)
        );
        let mut f = &self.files[i];
        f.seek(SeekFrom::Start(0))?;
        f.write_all(bytemuck::cast_slice(hashes))?;
        f.set_len(8 * hashes.len() as u64)?;
        f.flush()?;
        self.counts[i] = hashes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hash lands in the pass of its top bits, in the order pushed, across pushes; a pass
    /// rewritten reads back as rewritten, shorter or not.
    #[test]
    fn spilled_hashes_read_back_by_pass_as_written() {
        let mut w = SpillWriter::new(4).unwrap();
        let q = 1u64 << 62;
        w.push(&[3 * q + 1, 5, q, 2 * q + 9, 7]);
        w.push(&[]);
        w.push(&[u64::MAX, q + 4, 6]);
        let mut s = w.finish().unwrap();
        assert_eq!((s.passes(), s.bits(), s.len()), (4, 2, 8));
        assert_eq!(s.read(0).unwrap(), [5, 7, 6]);
        assert_eq!(s.read(1).unwrap(), [q, q + 4]);
        assert_eq!(s.read(2).unwrap(), [2 * q + 9]);
        assert_eq!(s.read(3).unwrap(), [3 * q + 1, u64::MAX]);
        s.rewrite(0, &[5]).unwrap();
        assert_eq!(s.read(0).unwrap(), [5]);
        assert_eq!(s.len(), 6);
        s.rewrite(2, &[]).unwrap();
        assert_eq!(s.read(2).unwrap(), Vec::<u64>::new());
        // Read twice: each read starts from the file's start.
        assert_eq!(s.read(1).unwrap(), [q, q + 4]);
        assert_eq!(s.read(1).unwrap(), [q, q + 4]);
    }
}
