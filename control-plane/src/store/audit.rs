//! The append-only audit log `audit.log`: one JSON object per line, appended with O_APPEND and
//! fsynced after the version it names is stored. A line that cannot be written is cut back off,
//! kept, and retried before the next one, so lines stay in version order; a torn last line (no
//! newline) is cut on open; a complete line that does not parse is skipped with a warning when
//! read. Failures are `Io` naming the file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{AuditEntry, StoreError};

/// Longest audit line read; a longer one is skipped as unreadable instead of filling memory.
const MAX_LINE: usize = 1 << 20;

/// How much of the file `tail` reads at a time, from the end.
const CHUNK: usize = 64 * 1024;

/// What opening the log found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// The highest version any readable line names.
    pub last_version: Option<u64>,
    /// A torn last line was cut off.
    pub tail_cut: bool,
    /// Complete lines that do not parse (left in place).
    pub unreadable: usize,
}

/// The writer's end of the log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    /// Length of the file made of complete, fsynced lines.
    len: u64,
    /// A failed append may have left part of a line past `len`.
    dirty: bool,
    /// Lines not yet written, oldest first.
    pending: VecDeque<AuditEntry>,
}

impl AuditLog {
    /// Opens (creating) the log at `path`, cuts a torn last line, and reports what is in it.
    /// Returns whether the file was created, so the caller can fsync its directory.
    pub fn open(path: &Path) -> Result<(AuditLog, Scan, bool), StoreError> {
        let fail = |source| StoreError::io(path, source);
        let created = match path.symlink_metadata() {
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(fail(e)),
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(fail)?;
        let (mut scan, good_len, total) = scan(&file).map_err(fail)?;
        if good_len < total {
            tracing::warn!(
                file = %path.display(), bytes = total - good_len,
                "audit log ends in a torn line; cutting it off"
            );
            file.set_len(good_len).map_err(fail)?;
            file.sync_all().map_err(fail)?;
            scan.tail_cut = true;
        }
        let log = AuditLog {
            path: path.to_path_buf(),
            file,
            len: good_len,
            dirty: false,
            pending: VecDeque::new(),
        };
        Ok((log, scan, created))
    }

    /// Queues `entry` and writes every queued line. On error the lines stay queued (the next
    /// call retries them first) and anything partly written is cut off before the next write.
    pub fn append(&mut self, entry: AuditEntry) -> Result<(), StoreError> {
        self.pending.push_back(entry);
        self.flush()
    }

    /// Writes every queued line, oldest first.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let fail = |source| StoreError::io(&self.path, source);
        if self.dirty {
            self.file.set_len(self.len).map_err(fail)?;
            self.file.sync_all().map_err(fail)?;
            self.dirty = false;
        }
        while let Some(entry) = self.pending.front() {
            let mut line = serde_json::to_vec(entry).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("cannot encode an audit line: {e}"),
            })?;
            line.push(b'\n');
            // One write of the whole line (O_APPEND), then fsync: a crash leaves the line whole,
            // absent, or torn without its newline, which `open` cuts.
            let written = self
                .file
                .write_all(&line)
                .and_then(|()| self.file.sync_data());
            if let Err(source) = written {
                self.dirty = true;
                return Err(StoreError::io(&self.path, source));
            }
            self.len += line.len() as u64;
            self.pending.pop_front();
        }
        Ok(())
    }

    /// Lines queued but not yet written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Swaps the file handle, to make appends fail in tests.
    #[cfg(test)]
    pub fn replace_file(&mut self, file: File) -> File {
        std::mem::replace(&mut self.file, file)
    }
}

/// Reads the log from the start: what it names, the length of its complete lines, its length.
fn scan(file: &File) -> io::Result<(Scan, u64, u64)> {
    let mut reader = BufReader::with_capacity(CHUNK, file);
    let mut scan = Scan::default();
    let mut offset = 0u64;
    let mut good_len = 0u64;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (taken, ends_line) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let body = if ends_line { &buf[..taken - 1] } else { buf };
        if !too_long {
            line.extend_from_slice(body);
            if line.len() > MAX_LINE {
                too_long = true;
                line.clear();
            }
        }
        reader.consume(taken);
        offset += taken as u64;
        if ends_line {
            good_len = offset;
            if too_long {
                scan.unreadable += 1;
                tracing::warn!(
                    line_ends_at = offset,
                    "audit line longer than {MAX_LINE} bytes; skipped"
                );
            } else if !line.is_empty() {
                match serde_json::from_slice::<AuditEntry>(&line) {
                    Ok(entry) => {
                        scan.last_version = scan.last_version.max(Some(entry.version));
                    }
                    Err(error) => {
                        scan.unreadable += 1;
                        tracing::warn!(line_ends_at = offset, %error, "unreadable audit line; skipped");
                    }
                }
            }
            line.clear();
            too_long = false;
        }
    }
    Ok((scan, good_len, offset))
}

/// The last `limit` readable entries of the log at `path`, newest first. Reads backwards from the
/// end, so the cost follows `limit`, not the size of the log. A missing file has no entries; a
/// line still being written (no newline yet) is not returned.
pub fn tail(path: &Path, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    tail_chunked(path, limit, CHUNK)
}

fn tail_chunked(path: &Path, limit: usize, chunk: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let fail = |source| StoreError::io(path, source);
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e)),
    };
    let mut pos = file.metadata().map_err(fail)?.len();
    let mut out = Vec::new();
    // Bytes after `pos` belonging to a line whose start is not read yet.
    let mut carry: Vec<u8> = Vec::new();
    // Until a newline is found, bytes are a line still being written (or one too long to keep):
    // dropped.
    let mut skipping = true;
    while out.len() < limit && pos > 0 {
        let start = pos.saturating_sub(chunk as u64);
        let mut buf = vec![0; usize::try_from(pos - start).unwrap_or(chunk)];
        file.seek(SeekFrom::Start(start)).map_err(fail)?;
        file.read_exact(&mut buf).map_err(fail)?;
        pos = start;
        if skipping {
            match buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => {
                    buf.truncate(i + 1);
                    skipping = false;
                }
                None => continue,
            }
        } else {
            buf.extend_from_slice(&carry);
        }
        carry.clear();
        // `buf` ends with a newline; walk its lines from the end.
        let mut line_end = buf.len();
        loop {
            let newline = line_end - 1;
            match buf[..newline].iter().rposition(|b| *b == b'\n') {
                Some(i) => {
                    push_entry(&mut out, &buf[i + 1..newline]);
                    line_end = i + 1;
                    if out.len() == limit {
                        break;
                    }
                }
                None if pos == 0 => {
                    push_entry(&mut out, &buf[..newline]);
                    break;
                }
                None => {
                    if line_end > MAX_LINE {
                        tracing::warn!(file = %path.display(), "audit line longer than {MAX_LINE} bytes; skipped");
                        skipping = true;
                    } else {
                        carry.extend_from_slice(&buf[..line_end]);
                    }
                    break;
                }
            }
        }
    }
    out.truncate(limit);
    Ok(out)
}

fn push_entry(out: &mut Vec<AuditEntry>, line: &[u8]) {
    if line.is_empty() {
        return;
    }
    match serde_json::from_slice(line) {
        Ok(entry) => out.push(entry),
        Err(error) => tracing::warn!(%error, "unreadable audit line; skipped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, message: &str) -> AuditEntry {
        AuditEntry {
            time: "2025-01-01T00:00:00.000Z".into(),
            actor: "alice".into(),
            action: "replace".into(),
            version,
            message: message.into(),
            detail: String::new(),
        }
    }

    fn line(entry: &AuditEntry) -> String {
        let mut text = serde_json::to_string(entry).expect("encode");
        text.push('\n');
        text
    }

    #[test]
    fn tail_matches_a_naive_read_at_every_chunk_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let entries: Vec<_> = (1..=9u64)
            .zip(1..=9usize)
            .map(|(n, len)| entry(n, &"x".repeat(len * 7)))
            .collect();
        let mut text = String::new();
        for (i, e) in entries.iter().enumerate() {
            text.push_str(&line(e));
            if i == 4 {
                text.push_str("not json\n\n");
            }
        }
        text.push_str("{\"time\":\"2025"); // being written: not returned
        std::fs::write(&path, &text).expect("write");
        let newest_first: Vec<_> = entries.iter().rev().cloned().collect();
        for chunk in [1, 2, 3, 7, 16, 50, 100, 4096] {
            for limit in [0, 1, 3, 9, 20] {
                let got = tail_chunked(&path, limit, chunk).expect("tail");
                let want: Vec<_> = newest_first.iter().take(limit).cloned().collect();
                assert_eq!(got, want, "chunk {chunk} limit {limit}");
            }
        }
    }

    #[test]
    fn tail_of_a_missing_or_empty_log_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        assert_eq!(tail(&path, 10).expect("missing"), vec![]);
        std::fs::write(&path, "").expect("write");
        assert_eq!(tail(&path, 10).expect("empty"), vec![]);
    }

    #[test]
    fn open_cuts_a_torn_line_and_names_the_highest_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let text = format!(
            "{}garbage\n{}{{\"time\":",
            line(&entry(1, "a")),
            line(&entry(2, "b"))
        );
        std::fs::write(&path, &text).expect("write");
        let (mut log, scan, created) = AuditLog::open(&path).expect("open");
        assert!(!created);
        assert_eq!(
            scan,
            Scan {
                last_version: Some(2),
                tail_cut: true,
                unreadable: 1
            }
        );
        log.append(entry(3, "c")).expect("append");
        let got = tail(&path, 10).expect("tail");
        assert_eq!(got, vec![entry(3, "c"), entry(2, "b"), entry(1, "a")]);
        let (_, scan, _) = AuditLog::open(&path).expect("reopen");
        assert_eq!(scan.last_version, Some(3));
        assert!(!scan.tail_cut);
    }

    #[test]
    fn a_failed_append_is_retried_in_order_without_a_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let (mut log, _, created) = AuditLog::open(&path).expect("open");
        assert!(created);
        log.append(entry(1, "a")).expect("append");
        let read_only = File::open(&path).expect("open read-only");
        let writable = log.replace_file(read_only);
        assert!(log.append(entry(2, "b")).is_err());
        assert_eq!(log.pending(), 1);
        log.replace_file(writable);
        log.append(entry(3, "c")).expect("append");
        assert_eq!(log.pending(), 0);
        let got = tail(&path, 10).expect("tail");
        assert_eq!(got, vec![entry(3, "c"), entry(2, "b"), entry(1, "a")]);
    }
}
