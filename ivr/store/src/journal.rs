//! The local append-only journal that makes "nothing lost" true: every
//! call-start marker and every finished call goes here, fsynced, before the
//! writer tries the database; whatever is in the journal reaches the
//! database eventually, in order, and idempotently.
//!
//! # Format
//! One file, `records.journal`, of frames:
//! `[payload length: u32 LE][CRC-32C of payload: u32 LE][payload: JSON of a
//! JournalEntry]`. A crash can tear only the last frame (appends are
//! sequential and each batch is fsynced before it is acknowledged), so
//! reading stops at the first frame that is short, too long, fails its
//! checksum or does not parse, and [`Journal::open`] cuts the file there.
//!
//! # What it must never do
//! - Run on the call path: every method blocks on the disk; the writer calls
//!   them through `spawn_blocking`.
//! - Be shared by two processes: [`Journal::open`] takes an exclusive lock
//!   on the file for as long as the journal lives.
//! - Keep a clear number longer than needed: callback requests carry one,
//!   so the writer empties the journal as soon as everything in it is in
//!   the database.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CallStart, FinishedCall};

/// The journal's file name inside its directory.
pub const JOURNAL_FILE: &str = "records.journal";
const HEADER_LEN: usize = 8;
/// No record comes near this; a longer length field is garbage (a torn or
/// corrupt header), not a reason to allocate.
const MAX_PAYLOAD: u32 = 16 * 1024 * 1024;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// One frame's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalEntry {
    /// A call in progress (the latest snapshot of it wins).
    Started(Box<CallStart>),
    Finished(Box<FinishedCall>),
}

/// A journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {op} failed on {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("journal {} is in use by another process", path.display())]
    Locked { path: PathBuf },
    #[error("cannot encode a journal entry")]
    Encode(#[source] serde_json::Error),
}

/// Appends `entry` as one frame to `out`.
pub fn encode_frame(entry: &JournalEntry, out: &mut Vec<u8>) -> Result<(), JournalError> {
    let payload = serde_json::to_vec(entry).map_err(JournalError::Encode)?;
    let len = u32::try_from(payload.len()).ok().filter(|&len| len <= MAX_PAYLOAD).ok_or_else(|| {
        JournalError::Encode(serde::ser::Error::custom(format!("journal entry of {} bytes", payload.len())))
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&CRC.checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Reads frames one at a time; stops (returns `None`) at the end or at the
/// first frame that is not whole and valid. `offset` is then the length of
/// the valid prefix.
struct FrameReader<R> {
    input: R,
    offset: u64,
    limit: u64,
}

impl<R: Read> FrameReader<R> {
    fn next(&mut self) -> io::Result<Option<JournalEntry>> {
        if self.limit.saturating_sub(self.offset) < HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        if !read_full(&mut self.input, &mut header)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let end = self.offset + HEADER_LEN as u64 + u64::from(len);
        if len > MAX_PAYLOAD || end > self.limit {
            return Ok(None);
        }
        let mut payload = vec![0u8; len as usize];
        if !read_full(&mut self.input, &mut payload)? || CRC.checksum(&payload) != crc {
            return Ok(None);
        }
        let Ok(entry) = serde_json::from_slice(&payload) else {
            return Ok(None);
        };
        self.offset = end;
        Ok(Some(entry))
    }
}

/// `read_exact` that tells a clean or torn end (`false`) from an IO error.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match input.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error),
    }
}

/// Decodes the valid frames at the start of `bytes`; returns them and the
/// length of the valid prefix (everything after it is a torn tail).
pub fn decode_frames(bytes: &[u8]) -> (Vec<JournalEntry>, usize) {
    let mut reader = FrameReader { input: bytes, offset: 0, limit: bytes.len() as u64 };
    let mut entries = Vec::new();
    while let Ok(Some(entry)) = reader.next() {
        entries.push(entry);
    }
    (entries, reader.offset as usize)
}

/// What [`Journal::open`] found.
#[derive(Debug, Default)]
pub struct JournalScan {
    /// Finished calls in the journal: all to be (re)played into the database.
    pub finished: u64,
    /// Calls with a start marker and no finished record, by id, with their
    /// last snapshot; in the order their first marker appears.
    pub unfinished: Vec<CallStart>,
    /// Bytes cut from the end: a frame torn by a crash.
    pub torn_bytes: u64,
}

/// The open journal file, locked for this process.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    dir: PathBuf,
    len: u64,
}

impl Journal {
    /// Opens (creating `dir` and the file if needed) and locks the journal,
    /// reads it through, cuts a torn last frame, and reports what it holds.
    pub fn open(dir: &Path) -> Result<(Journal, JournalScan), JournalError> {
        let path = dir.join(JOURNAL_FILE);
        let io_error = |op, source| JournalError::Io { op, path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(|e| io_error("create directory", e))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_error("open", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(JournalError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error("lock", e)),
        }
        let file_len = file.metadata().map_err(|e| io_error("stat", e))?.len();

        let mut scan = JournalScan::default();
        let mut open: HashMap<String, usize> = HashMap::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut reader = FrameReader { input: BufReader::new(&file), offset: 0, limit: file_len };
        while let Some(entry) = reader.next().map_err(|e| io_error("read", e))? {
            match entry {
                JournalEntry::Started(start) => {
                    if finished.contains(&start.call_id) {
                        continue;
                    }
                    match open.get(&start.call_id) {
                        Some(&index) => scan.unfinished[index] = *start,
                        None => {
                            open.insert(start.call_id.clone(), scan.unfinished.len());
                            scan.unfinished.push(*start);
                        }
                    }
                }
                JournalEntry::Finished(call) => {
                    scan.finished += 1;
                    open.remove(call.call_id());
                    finished.insert(call.record.call_id);
                }
            }
        }
        scan.unfinished.retain(|start| !finished.contains(&start.call_id));
        let valid = reader.offset;
        if valid < file_len {
            scan.torn_bytes = file_len - valid;
            tracing::warn!(path = %path.display(), torn_bytes = scan.torn_bytes, "journal ends in a torn frame: cut");
            file.set_len(valid).map_err(|e| io_error("truncate", e))?;
            file.sync_all().map_err(|e| io_error("fsync", e))?;
        }
        let journal = Journal { file, path, dir: dir.to_owned(), len: valid };
        Ok((journal, scan))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of valid frames in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `entries` with one write and one fsync (group commit): when
    /// this returns `Ok`, they survive a crash. Returns the offset just past
    /// each entry's frame.
    pub fn append(&mut self, entries: &[JournalEntry]) -> Result<Vec<u64>, JournalError> {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(entries.len());
        for entry in entries {
            encode_frame(entry, &mut bytes)?;
            ends.push(self.len + bytes.len() as u64);
        }
        if bytes.is_empty() {
            return Ok(ends);
        }
        let io_error = |op, source| JournalError::Io { op, path: self.path.clone(), source };
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // Cut a partial write so that later frames are not hidden
            // behind it; if even that fails, open() will cut it next time.
            let _ = self.file.set_len(self.len);
            return Err(io_error("append", error));
        }
        self.len += bytes.len() as u64;
        Ok(ends)
    }

    /// Replaces the journal with one holding only `keep` (the markers of
    /// calls still in progress), atomically: a new file is written and
    /// fsynced, renamed over the old one, and the directory fsynced. With
    /// nothing to keep the file is simply truncated.
    pub fn reset(&mut self, keep: &[JournalEntry]) -> Result<(), JournalError> {
        let io_error = |op, source| JournalError::Io { op, path: self.path.clone(), source };
        if keep.is_empty() {
            self.file.set_len(0).map_err(|e| io_error("truncate", e))?;
            self.file.sync_all().map_err(|e| io_error("fsync", e))?;
            self.len = 0;
            return Ok(());
        }
        let mut bytes = Vec::new();
        for entry in keep {
            encode_frame(entry, &mut bytes)?;
        }
        let tmp = self.dir.join(format!("{JOURNAL_FILE}.new"));
        let mut new = File::create(&tmp).map_err(|e| io_error("create rotated", e))?;
        new.write_all(&bytes).and_then(|()| new.sync_all()).map_err(|e| io_error("write rotated", e))?;
        drop(new);
        std::fs::rename(&tmp, &self.path).map_err(|e| io_error("rename rotated", e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io_error("fsync directory", e))?;
        let file = OpenOptions::new().read(true).append(true).open(&self.path).map_err(|e| io_error("reopen", e))?;
        file.try_lock().map_err(|_| JournalError::Locked { path: self.path.clone() })?;
        self.file = file;
        self.len = bytes.len() as u64;
        Ok(())
    }
}

/// Up to `max` finished calls stored between byte `from` and byte `until`,
/// in journal order, and the offset just past the last frame read. Start
/// markers are skipped. Reads through its own handle, so appends may go on.
pub fn read_finished(path: &Path, from: u64, until: u64, max: usize) -> Result<(Vec<FinishedCall>, u64), JournalError> {
    let io_error = |op, source| JournalError::Io { op, path: path.to_owned(), source };
    let mut file = File::open(path).map_err(|e| io_error("open for replay", e))?;
    file.seek(SeekFrom::Start(from)).map_err(|e| io_error("seek", e))?;
    let mut reader = FrameReader { input: BufReader::new(file), offset: from, limit: until };
    let mut calls = Vec::new();
    while calls.len() < max {
        match reader.next().map_err(|e| io_error("read for replay", e))? {
            Some(JournalEntry::Finished(call)) => calls.push(*call),
            Some(JournalEntry::Started(_)) => {}
            None => break,
        }
    }
    Ok((calls, reader.offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallRecord;

    fn finished(id: &str) -> JournalEntry {
        JournalEntry::Finished(Box::new(FinishedCall::from(CallRecord { call_id: id.into(), ..CallRecord::default() })))
    }

    fn started(id: &str, at_ms: i64) -> JournalEntry {
        JournalEntry::Started(Box::new(CallStart { call_id: id.into(), at_ms, ..CallStart::default() }))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ivr-journal-{name}-{}-{:x}", std::process::id(), fastrand::u64(..)));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn frames_round_trip_and_any_damage_ends_the_valid_prefix() {
        let entries = vec![started("a", 1), finished("a"), finished("b")];
        let mut bytes = Vec::new();
        for entry in &entries {
            encode_frame(entry, &mut bytes).expect("encodes");
        }
        assert_eq!(decode_frames(&bytes), (entries.clone(), bytes.len()));

        // Every possible torn length keeps exactly the whole frames before it.
        let mut ends = vec![0];
        let mut one = Vec::new();
        for entry in &entries {
            encode_frame(entry, &mut one).expect("encodes");
            ends.push(one.len());
        }
        for cut in 0..bytes.len() {
            let (decoded, valid) = decode_frames(&bytes[..cut]);
            let whole = ends.iter().rposition(|&end| end <= cut).expect("0 is an end");
            assert_eq!(decoded, entries[..whole], "cut at {cut}");
            assert_eq!(valid, ends[whole]);
        }

        // A flipped payload bit fails the checksum from that frame on.
        let mut flipped = bytes.clone();
        flipped[ends[1] + HEADER_LEN + 3] ^= 0x01;
        assert_eq!(decode_frames(&flipped), (entries[..1].to_vec(), ends[1]));

        // A huge length field is refused without allocating it.
        let mut garbage = bytes[..ends[1]].to_vec();
        garbage.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, b'{']);
        assert_eq!(decode_frames(&garbage).1, ends[1]);
    }

    #[test]
    fn open_cuts_a_torn_tail_and_lists_calls_without_a_final_record() {
        let dir = temp_dir("torn");
        let (mut journal, scan) = Journal::open(&dir).expect("opens");
        assert_eq!((scan.finished, scan.unfinished.len(), scan.torn_bytes), (0, 0, 0));
        let ends = journal
            .append(&[started("a", 1), started("b", 2), finished("a"), started("b", 5), started("c", 3)])
            .expect("appends");
        assert_eq!(ends.len(), 5);
        assert_eq!(ends.last(), Some(&journal.len()));
        assert!(ends.windows(2).all(|w| w[0] < w[1]));
        let good_len = journal.len();
        drop(journal);
        // A crash in the middle of the next frame.
        let mut torn = Vec::new();
        encode_frame(&finished("b"), &mut torn).expect("encodes");
        let mut file = OpenOptions::new().append(true).open(dir.join(JOURNAL_FILE)).expect("file");
        file.write_all(&torn[..torn.len() - 4]).expect("write");
        drop(file);

        let (journal, scan) = Journal::open(&dir).expect("reopens");
        assert_eq!(scan.torn_bytes, torn.len() as u64 - 4);
        assert_eq!(journal.len(), good_len);
        assert_eq!(std::fs::metadata(journal.path()).expect("stat").len(), good_len);
        assert_eq!(scan.finished, 1);
        let unfinished: Vec<_> = scan.unfinished.iter().map(|s| (s.call_id.as_str(), s.at_ms)).collect();
        assert_eq!(unfinished, [("b", 5), ("c", 3)], "b's last snapshot, in order of first appearance");
        drop(journal);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
        let dir = temp_dir("lock");
        let (journal, _) = Journal::open(&dir).expect("opens");
        assert!(matches!(Journal::open(&dir), Err(JournalError::Locked { .. })));
        drop(journal);
        Journal::open(&dir).expect("free again once the first is dropped");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reset_keeps_only_the_given_markers_and_replay_reads_finished_calls_in_order() {
        let dir = temp_dir("reset");
        let (mut journal, _) = Journal::open(&dir).expect("opens");
        journal.append(&[finished("a"), started("x", 1), finished("b"), finished("c")]).expect("appends");
        let (first, next) = read_finished(journal.path(), 0, journal.len(), 2).expect("reads");
        assert_eq!(first.iter().map(FinishedCall::call_id).collect::<Vec<_>>(), ["a", "b"]);
        let (rest, end) = read_finished(journal.path(), next, journal.len(), 10).expect("reads");
        assert_eq!(rest.iter().map(FinishedCall::call_id).collect::<Vec<_>>(), ["c"]);
        assert_eq!(end, journal.len());

        journal.reset(&[started("x", 9)]).expect("rotates");
        journal.append(&[finished("d")]).expect("appends after rotation");
        drop(journal);
        let (journal, scan) = Journal::open(&dir).expect("reopens");
        assert_eq!(scan.finished, 1);
        assert_eq!(scan.unfinished.iter().map(|s| s.at_ms).collect::<Vec<_>>(), [9]);
        let mut journal = journal;
        journal.reset(&[]).expect("truncates");
        assert!(journal.is_empty());
        assert_eq!(std::fs::metadata(journal.path()).expect("stat").len(), 0);
        drop(journal);
        let _ = std::fs::remove_dir_all(dir);
    }
}
