//! Durability: an append-only journal of physical changes with group commit, snapshot files
//! written atomically by compaction, and recovery (snapshot, then journal replay, ignoring a
//! torn final record).
//!
//! On disk, a data directory holds `mongod.lock` (held with an exclusive file lock while a
//! store is open), `snapshot.bin` (the state as of the end of journal generation *g*) and
//! `journal-<n>.bin` files for generations after *g*. Both file kinds are sequences of frames:
//! `u32` little-endian payload length, `u32` CRC-32 of the payload, then a BSON payload.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bson::{doc, Bson, Document};
use parking_lot::Mutex;

use crate::error::{CommandError, CommandResult};
use crate::storage::catalog::{Catalog, Op};

/// `DBPathInUse`: another process holds the data directory.
const DB_PATH_IN_USE: i32 = 98;
/// Frames larger than this are treated as torn (no legitimate entry is this big).
const MAX_FRAME: usize = 1 << 30;
const SNAPSHOT_FILE: &str = "snapshot.bin";
const SNAPSHOT_TEMP_FILE: &str = "snapshot.tmp";
const LOCK_FILE: &str = "mongod.lock";
/// Documents per snapshot frame.
const SNAPSHOT_BATCH: usize = 1000;

fn io_error(context: &str, error: std::io::Error) -> CommandError {
    CommandError::new(
        crate::error::codes::INTERNAL_ERROR,
        format!("{context}: {error}"),
    )
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zip and gzip.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0_u32; 256];
        for (entry, slot) in table.iter_mut().enumerate() {
            let mut value = entry as u32;
            for _ in 0..8 {
                value = if value & 1 == 1 {
                    0xEDB8_8320 ^ (value >> 1)
                } else {
                    value >> 1
                };
            }
            *slot = value;
        }
        table
    });
    let mut crc = 0xFFFF_FFFF_u32;
    for byte in bytes {
        crc = table[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Appends one frame (length, checksum, payload) to `out`.
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Splits `bytes` into frame payloads; stops at the first torn or corrupt frame and reports
/// how many bytes were valid.
pub(crate) fn read_frames(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut frames = Vec::new();
    let mut offset = 0;
    while bytes.len() - offset >= 8 {
        let length = u32::from_le_bytes([
            bytes[offset],
            bytes[offset + 1],
            bytes[offset + 2],
            bytes[offset + 3],
        ]) as usize;
        let checksum = u32::from_le_bytes([
            bytes[offset + 4],
            bytes[offset + 5],
            bytes[offset + 6],
            bytes[offset + 7],
        ]);
        if length > MAX_FRAME || bytes.len() - offset - 8 < length {
            break;
        }
        let payload = &bytes[offset + 8..offset + 8 + length];
        if crc32(payload) != checksum {
            break;
        }
        frames.push(payload);
        offset += 8 + length;
    }
    (frames, offset)
}

fn encode_op(op: &Op) -> Document {
    match op {
        Op::CreateCollection {
            database,
            collection,
            uuid,
            options,
        } => doc! {"o": "cc", "d": database, "c": collection, "u": *uuid, "opt": options.clone()},
        Op::DropCollection {
            database,
            collection,
        } => doc! {"o": "dc", "d": database, "c": collection},
        Op::DropDatabase { database } => doc! {"o": "dd", "d": database},
        Op::RenameCollection {
            database,
            collection,
            to_database,
            to_collection,
            drop_target,
        } => doc! {
            "o": "rn", "d": database, "c": collection,
            "td": to_database, "tc": to_collection, "dt": *drop_target,
        },
        Op::CreateIndex {
            database,
            collection,
            spec,
        } => doc! {"o": "ci", "d": database, "c": collection, "spec": spec.clone()},
        Op::DropIndex {
            database,
            collection,
            name,
        } => doc! {"o": "di", "d": database, "c": collection, "n": name},
        Op::SetOptions {
            database,
            collection,
            options,
        } => doc! {"o": "so", "d": database, "c": collection, "opt": options.clone()},
        Op::SetIndexExpiry {
            database,
            collection,
            name,
            seconds,
        } => doc! {"o": "se", "d": database, "c": collection, "n": name, "s": *seconds},
        Op::Put {
            database,
            collection,
            record,
            document,
        } => {
            doc! {"o": "p", "d": database, "c": collection, "r": *record as i64, "doc": (**document).clone()}
        }
        Op::Delete {
            database,
            collection,
            record,
            id,
        } => doc! {"o": "x", "d": database, "c": collection, "r": *record as i64, "id": id.clone()},
    }
}

fn decode_op(encoded: &Document) -> Option<Op> {
    let database = encoded.get_str("d").ok()?.to_string();
    let collection = || encoded.get_str("c").ok().map(str::to_string);
    let op = match encoded.get_str("o").ok()? {
        "cc" => Op::CreateCollection {
            database,
            collection: collection()?,
            uuid: match encoded.get("u")? {
                Bson::Binary(binary) => binary.to_uuid().ok()?,
                _ => return None,
            },
            options: encoded.get_document("opt").ok()?.clone(),
        },
        "dc" => Op::DropCollection {
            database,
            collection: collection()?,
        },
        "dd" => Op::DropDatabase { database },
        "rn" => Op::RenameCollection {
            database,
            collection: collection()?,
            to_database: encoded.get_str("td").ok()?.to_string(),
            to_collection: encoded.get_str("tc").ok()?.to_string(),
            drop_target: encoded.get_bool("dt").ok()?,
        },
        "ci" => Op::CreateIndex {
            database,
            collection: collection()?,
            spec: encoded.get_document("spec").ok()?.clone(),
        },
        "di" => Op::DropIndex {
            database,
            collection: collection()?,
            name: encoded.get_str("n").ok()?.to_string(),
        },
        "so" => Op::SetOptions {
            database,
            collection: collection()?,
            options: encoded.get_document("opt").ok()?.clone(),
        },
        "se" => Op::SetIndexExpiry {
            database,
            collection: collection()?,
            name: encoded.get_str("n").ok()?.to_string(),
            seconds: encoded.get_i64("s").ok()?,
        },
        "p" => Op::Put {
            database,
            collection: collection()?,
            record: encoded.get_i64("r").ok()? as u64,
            document: Arc::new(encoded.get_document("doc").ok()?.clone()),
        },
        "x" => Op::Delete {
            database,
            collection: collection()?,
            record: encoded.get_i64("r").ok()? as u64,
            id: encoded.get("id")?.clone(),
        },
        _ => return None,
    };
    Some(op)
}

/// The counters a journal entry or snapshot header carries so they survive restarts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counters {
    /// The last change-event sequence number handed out.
    pub sequence: u64,
    /// The last cluster time handed out.
    pub cluster_time: bson::Timestamp,
}

/// The zero cluster time.
pub(crate) fn zero_timestamp() -> bson::Timestamp {
    bson::Timestamp {
        time: 0,
        increment: 0,
    }
}

/// Encodes a journal entry: the ops of one write (or one transaction) and the counters.
pub(crate) fn encode_entry(ops: &[Op], counters: Counters) -> Vec<u8> {
    let entry = doc! {
        "seq": counters.sequence as i64,
        "ct": counters.cluster_time,
        "ops": ops.iter().map(|op| Bson::Document(encode_op(op))).collect::<Vec<_>>(),
    };
    let mut payload = Vec::new();
    if let Err(error) = entry.to_writer(&mut payload) {
        tracing::error!(%error, "journal entry could not be encoded");
    }
    payload
}

fn decode_entry(payload: &[u8]) -> Option<(Vec<Op>, Counters, Option<u64>)> {
    let entry = Document::from_reader(payload).ok()?;
    let counters = Counters {
        sequence: entry.get_i64("seq").unwrap_or(0) as u64,
        cluster_time: entry.get_timestamp("ct").unwrap_or(zero_timestamp()),
    };
    let snapshot_generation = entry.get_i64("snapshot").ok().map(|g| g as u64);
    let mut ops = Vec::new();
    if let Ok(encoded) = entry.get_array("ops") {
        for item in encoded {
            if let Bson::Document(op) = item {
                ops.push(decode_op(op)?);
            }
        }
    }
    Some((ops, counters, snapshot_generation))
}

fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:010}.bin"))
}

fn journal_generations(dir: &Path) -> CommandResult<Vec<u64>> {
    let mut generations = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| io_error("reading the data directory", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(number) = name
            .strip_prefix("journal-")
            .and_then(|rest| rest.strip_suffix(".bin"))
        {
            if let Ok(generation) = number.parse::<u64>() {
                generations.push(generation);
            }
        }
    }
    generations.sort_unstable();
    Ok(generations)
}

fn sync_directory(dir: &Path) -> CommandResult<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| io_error("syncing the data directory", e))
}

/// What recovery rebuilt.
pub(crate) struct Recovered {
    pub catalog: Catalog,
    pub counters: Counters,
}

fn apply_entry(catalog: &mut Catalog, ops: &[Op], counters: Counters, latest: &mut Counters) {
    for op in ops {
        if let Err(error) = catalog.apply(op) {
            tracing::warn!(%error, "skipping a journal operation that no longer applies");
        }
    }
    if counters.sequence > latest.sequence {
        latest.sequence = counters.sequence;
    }
    if crate::compare::compare_bson(
        &Bson::Timestamp(counters.cluster_time),
        &Bson::Timestamp(latest.cluster_time),
    )
    .is_gt()
    {
        latest.cluster_time = counters.cluster_time;
    }
}

/// The open journal: pending frames not yet written, and the file they go to.
pub(crate) struct Journal {
    dir: PathBuf,
    pending: Mutex<Pending>,
    file: Mutex<JournalFile>,
    durable: AtomicU64,
    size: AtomicU64,
    _lock: File,
}

struct Pending {
    bytes: Vec<u8>,
    last_ticket: u64,
}

struct JournalFile {
    handle: File,
    generation: u64,
}

impl Journal {
    /// Locks the data directory, recovers its state and opens the journal for appending.
    pub fn open(dir: &Path) -> CommandResult<(Journal, Recovered)> {
        fs::create_dir_all(dir).map_err(|e| io_error("creating the data directory", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| io_error("opening the lock file", e))?;
        // `File::try_lock` (an exclusive `flock` released when the process dies, so a killed
        // store never leaves a stale lock) is stable since Rust 1.89; the toolchain here is newer
        // than the workspace's declared MSRV.
        #[allow(clippy::incompatible_msrv)]
        let locked = lock.try_lock();
        if locked.is_err() {
            return Err(CommandError::new(
                DB_PATH_IN_USE,
                format!(
                    "Unable to lock the data directory {}: another embedded-mongo store is using it",
                    dir.display()
                ),
            ));
        }
        let mut catalog = Catalog::default();
        let mut counters = Counters {
            sequence: 0,
            cluster_time: zero_timestamp(),
        };
        let mut covered = 0_u64;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        if snapshot_path.exists() {
            let bytes =
                fs::read(&snapshot_path).map_err(|e| io_error("reading the snapshot", e))?;
            let (frames, _) = read_frames(&bytes);
            for payload in frames {
                let Some((ops, entry_counters, generation)) = decode_entry(payload) else {
                    return Err(CommandError::new(
                        crate::error::codes::INTERNAL_ERROR,
                        "the snapshot file is corrupt",
                    ));
                };
                if let Some(generation) = generation {
                    covered = generation;
                }
                apply_entry(&mut catalog, &ops, entry_counters, &mut counters);
            }
        }
        let _ = fs::remove_file(dir.join(SNAPSHOT_TEMP_FILE));
        let mut append_generation = covered + 1;
        for generation in journal_generations(dir)? {
            let path = journal_path(dir, generation);
            if generation <= covered {
                let _ = fs::remove_file(&path);
                continue;
            }
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut handle| handle.read_to_end(&mut bytes))
                .map_err(|e| io_error("reading the journal", e))?;
            let (frames, valid) = read_frames(&bytes);
            let mut applied_bytes = valid;
            for payload in frames {
                match decode_entry(payload) {
                    Some((ops, entry_counters, _)) => {
                        apply_entry(&mut catalog, &ops, entry_counters, &mut counters)
                    }
                    None => {
                        tracing::warn!(generation, "journal entry could not be decoded");
                        applied_bytes = valid;
                        break;
                    }
                }
            }
            if applied_bytes < bytes.len() {
                tracing::warn!(
                    generation,
                    ignored = bytes.len() - applied_bytes,
                    "ignoring a torn journal tail"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|handle| {
                        handle.set_len(applied_bytes as u64)?;
                        handle.sync_all()
                    })
                    .map_err(|e| io_error("truncating the journal", e))?;
            }
            append_generation = generation;
        }
        let path = journal_path(dir, append_generation);
        let handle = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error("opening the journal", e))?;
        let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
        sync_directory(dir)?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                last_ticket: 0,
            }),
            file: Mutex::new(JournalFile {
                handle,
                generation: append_generation,
            }),
            durable: AtomicU64::new(0),
            size: AtomicU64::new(size),
            _lock: lock,
        };
        Ok((journal, Recovered { catalog, counters }))
    }

    /// Queues an entry; callers hold the store's writer lock so entries keep commit order.
    /// Returns the ticket to wait for with [`Journal::wait_durable`].
    pub fn append(&self, payload: &[u8]) -> u64 {
        let mut pending = self.pending.lock();
        frame(payload, &mut pending.bytes);
        pending.last_ticket += 1;
        pending.last_ticket
    }

    /// Blocks until the entry with `ticket` is on disk. Whoever holds the file lock writes
    /// and syncs every queued entry at once, so concurrent writers share one `fdatasync`.
    pub fn wait_durable(&self, ticket: u64) -> CommandResult<()> {
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let mut file = self.file.lock();
        if self.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        self.flush_locked(&mut file)
    }

    fn flush_locked(&self, file: &mut JournalFile) -> CommandResult<()> {
        let (bytes, last) = {
            let mut pending = self.pending.lock();
            (std::mem::take(&mut pending.bytes), pending.last_ticket)
        };
        if !bytes.is_empty() {
            file.handle
                .write_all(&bytes)
                .and_then(|()| file.handle.sync_data())
                .map_err(|e| io_error("writing the journal", e))?;
            self.size.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        self.durable.fetch_max(last, Ordering::AcqRel);
        Ok(())
    }

    /// Writes and syncs everything queued.
    pub fn flush(&self) -> CommandResult<()> {
        let mut file = self.file.lock();
        self.flush_locked(&mut file)
    }

    /// Bytes in the current journal file.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Flushes everything queued, then starts a new journal generation; returns the
    /// generation a snapshot of the current state covers. Callers hold the writer lock.
    pub fn rotate(&self) -> CommandResult<u64> {
        let mut file = self.file.lock();
        self.flush_locked(&mut file)?;
        let covered = file.generation;
        let next = covered + 1;
        let handle = OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal_path(&self.dir, next))
            .map_err(|e| io_error("opening the journal", e))?;
        sync_directory(&self.dir)?;
        file.handle = handle;
        file.generation = next;
        self.size.store(0, Ordering::Relaxed);
        Ok(covered)
    }

    /// Writes `catalog` as the snapshot covering journal generations up to `covered`
    /// (temp file, fsync, rename, fsync directory), then deletes those journals.
    pub fn write_snapshot(
        &self,
        catalog: &Catalog,
        counters: Counters,
        covered: u64,
    ) -> CommandResult<()> {
        let temp = self.dir.join(SNAPSHOT_TEMP_FILE);
        let mut out = std::io::BufWriter::new(
            File::create(&temp).map_err(|e| io_error("creating the snapshot", e))?,
        );
        let mut write_frame = |payload: &[u8]| -> CommandResult<()> {
            let mut framed = Vec::with_capacity(payload.len() + 8);
            frame(payload, &mut framed);
            out.write_all(&framed)
                .map_err(|e| io_error("writing the snapshot", e))
        };
        let mut header = Vec::new();
        doc! {
            "snapshot": covered as i64,
            "seq": counters.sequence as i64,
            "ct": counters.cluster_time,
            "ops": [],
        }
        .to_writer(&mut header)
        .map_err(|e| CommandError::new(crate::error::codes::INTERNAL_ERROR, e.to_string()))?;
        write_frame(&header)?;
        for (database, db) in catalog.databases.iter() {
            for (name, collection) in db.collections.iter() {
                let mut ops = vec![Op::CreateCollection {
                    database: database.clone(),
                    collection: name.clone(),
                    uuid: collection.uuid,
                    options: collection.options.clone(),
                }];
                for index in &collection.indexes {
                    ops.push(Op::CreateIndex {
                        database: database.clone(),
                        collection: name.clone(),
                        spec: index.spec.to_document(),
                    });
                }
                write_frame(&encode_entry(&ops, counters))?;
                let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
                for (record, stored) in collection.records.iter() {
                    batch.push(Op::Put {
                        database: database.clone(),
                        collection: name.clone(),
                        record: *record,
                        document: stored.document.clone(),
                    });
                    if batch.len() == SNAPSHOT_BATCH {
                        write_frame(&encode_entry(&batch, counters))?;
                        batch.clear();
                    }
                }
                if !batch.is_empty() {
                    write_frame(&encode_entry(&batch, counters))?;
                }
            }
        }
        let handle = out
            .into_inner()
            .map_err(|e| io_error("writing the snapshot", e.into_error()))?;
        handle
            .sync_all()
            .map_err(|e| io_error("syncing the snapshot", e))?;
        drop(handle);
        fs::rename(&temp, self.dir.join(SNAPSHOT_FILE))
            .map_err(|e| io_error("installing the snapshot", e))?;
        sync_directory(&self.dir)?;
        for generation in journal_generations(&self.dir)? {
            if generation <= covered {
                let _ = fs::remove_file(journal_path(&self.dir, generation));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn torn_or_corrupt_frames_end_the_readable_prefix() {
        let mut bytes = Vec::new();
        frame(b"first", &mut bytes);
        frame(b"second", &mut bytes);
        let whole = bytes.len();
        frame(b"third", &mut bytes);
        bytes.truncate(bytes.len() - 2);
        let (frames, valid) = read_frames(&bytes);
        assert_eq!(frames, vec![&b"first"[..], &b"second"[..]]);
        assert_eq!(valid, whole);

        let mut corrupt = Vec::new();
        frame(b"first", &mut corrupt);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xFF;
        assert_eq!(read_frames(&corrupt).0.len(), 0);
    }

    #[test]
    fn ops_round_trip_through_the_entry_encoding() {
        let ops = vec![
            Op::CreateCollection {
                database: "db".into(),
                collection: "c".into(),
                uuid: bson::Uuid::new(),
                options: doc! {"validationLevel": "strict"},
            },
            Op::Put {
                database: "db".into(),
                collection: "c".into(),
                record: 7,
                document: Arc::new(doc! {"_id": 1, "a": "x"}),
            },
            Op::Delete {
                database: "db".into(),
                collection: "c".into(),
                record: 7,
                id: Bson::Int32(1),
            },
        ];
        let counters = Counters {
            sequence: 42,
            cluster_time: bson::Timestamp {
                time: 100,
                increment: 3,
            },
        };
        let payload = encode_entry(&ops, counters);
        let (decoded, decoded_counters, snapshot) = decode_entry(&payload).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded_counters, counters);
        assert_eq!(snapshot, None);
        match &decoded[1] {
            Op::Put {
                record, document, ..
            } => {
                assert_eq!(*record, 7);
                assert_eq!(**document, doc! {"_id": 1, "a": "x"});
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
