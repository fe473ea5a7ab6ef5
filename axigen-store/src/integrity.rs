//! Damage to the store's files: found by the checksums RocksDB verifies on
//! every read, remembered across restarts, and reported with what it
//! affects.
//!
//! Implementation notes:
//!
//! - Every block RocksDB reads is checked against its checksum (the default
//!   of `ReadOptions::verify_checksums`, never turned off here). A read that
//!   meets a damaged block fails with a `Corruption` error: the operation
//!   gets a storage error (the protocol's "try again later"), never wrong
//!   data.
//! - The first such error is written to the `DAMAGED` file in the store's
//!   directory (see [`mark_damaged`]). While it exists the store refuses to
//!   open for serving ([`StoreOptions::verify_on_open`](crate::StoreOptions::verify_on_open)),
//!   so a server that found damage does not come back up serving around it.
//! - Opening for serving also reads every table file of every column family
//!   but the message contents (their blob files are large, and read only
//!   when a message is): damage found there refuses the open the same way.
//! - `Store::check(deep)` reads everything, contents included with `deep`,
//!   and says for each damaged file which records it holds: which
//!   messages, folders, accounts.

use std::path::Path;

use axigen_core::mailstore::{BlobId, FolderId, Uid};
use axigen_core::model::AccountId;
use axigen_core::{Error, Result};
use rocksdb::{Direction, IteratorMode, ReadOptions};

use crate::Store;
use crate::check::Finding;
use crate::commit::{Db, cf};
use crate::keys::*;

/// The marker file written when damage is found at run time.
pub const DAMAGED_FILE: &str = "DAMAGED";

/// Whether a RocksDB error message reports damage (a checksum mismatch, a
/// truncated or unreadable table file).
pub(crate) fn is_corruption(message: &str) -> bool {
    message.starts_with("Corruption") || message.contains("Corruption:") || message.contains("checksum mismatch")
}

/// Records damage found at run time in `dir/DAMAGED` (the first report is
/// kept), so that the next start refuses to serve from the store.
pub(crate) fn mark_damaged(dir: &Path, message: &str) {
    let marker = dir.join(DAMAGED_FILE);
    if marker.exists() {
        return;
    }
    tracing::error!(store = %dir.display(), error = %message,
        "the store is damaged: a read failed its checksum; stop the server and run `server check --deep`");
    let text = format!(
        "The store was found damaged at {} (Unix time) by a read:\n{message}\n\n{}\n",
        axigen_core::unix_now(),
        advice(dir)
    );
    if let Err(e) = std::fs::write(&marker, text) {
        tracing::error!(file = %marker.display(), error = %e, "cannot record the damage");
    }
}

/// What an administrator should do about a damaged store.
pub fn advice(dir: &Path) -> String {
    format!(
        "What to do: stop the server; run `server check --deep` to list what is affected; restore the store \
         directory {} from a backup (or move the damaged files named by the check aside and let the check \
         list what is lost); then delete {} and start again.",
        dir.display(),
        dir.join(DAMAGED_FILE).display()
    )
}

/// The table or blob file named in a RocksDB error, as written there (a
/// path, or a bare file name).
fn file_in(message: &str) -> Option<&str> {
    message.split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '\'' || c == '"').find(|w| {
        let name = w.rsplit('/').next().unwrap_or(w);
        let (number, ext) = name.split_once('.').unwrap_or((name, ""));
        (ext == "sst" || ext == "blob") && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Called with every RocksDB error: damage named with its file's path is
/// recorded in that store's `DAMAGED` file.
pub(crate) fn note_error(message: &str) {
    if !is_corruption(message) {
        return;
    }
    match file_in(message).map(Path::new).and_then(Path::parent).filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => mark_damaged(dir, message),
        None => tracing::error!(error = %message, "the store is damaged: a read failed its checksum"),
    }
}

fn be32_at(key: &[u8], at: usize) -> Option<u32> {
    key.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
}

/// What a range of keys of a column family holds, in an administrator's
/// words.
pub(crate) fn describe_range(cf_name: &str, start: Option<&[u8]>, end: Option<&[u8]>) -> String {
    let (Some(start), Some(end)) = (start, end) else {
        return format!("{cf_name} records (range unknown)");
    };
    let account = |k: &[u8]| be32_at(k, 0).map(AccountId);
    match cf_name {
        CF_MESSAGE => {
            let at = |k: &[u8]| Some((account(k)?, FolderId(be32_at(k, 4)?), Uid(be32_at(k, 8)?)));
            match (at(start), at(end)) {
                (Some((a1, f1, u1)), Some((a2, f2, u2))) if a1 == a2 && f1 == f2 => {
                    format!("message records of account {a1} folder {} UIDs {}..{}", f1.0, u1.0, u2.0)
                }
                (Some((a1, f1, u1)), Some((a2, f2, u2))) => format!(
                    "message records from account {a1} folder {} UID {} to account {a2} folder {} UID {}",
                    f1.0, u1.0, f2.0, u2.0
                ),
                _ => "message records".into(),
            }
        }
        CF_ACCOUNT | CF_FOLDER | CF_FOLDER_NAME | CF_CHANGELOG | CF_DEVICE | CF_SYNC_STATE | CF_AUTOREPLY | CF_RPOP => {
            let what = match cf_name {
                CF_ACCOUNT => "mail state (quota, MODSEQ)",
                CF_FOLDER => "folder records",
                CF_FOLDER_NAME => "folder name index",
                CF_CHANGELOG => "change log",
                CF_DEVICE => "mobile devices",
                CF_SYNC_STATE => "mobile sync states",
                CF_AUTOREPLY => "out-of-office settings",
                _ => "remote POP3 sources",
            };
            match (account(start), account(end)) {
                (Some(a), Some(b)) if a == b => format!("{what} of account {a}"),
                (Some(a), Some(b)) => format!("{what} of accounts {a} to {b}"),
                _ => what.into(),
            }
        }
        CF_BLOB => "message contents (their index)".into(),
        CF_BLOB_REF => "message content reference counts".into(),
        CF_STRUCTURE => "message structures (envelope, body structure)".into(),
        CF_DIRECTORY => "the directory (domains, classes, accounts, aliases)".into(),
        CF_QUEUE => "the outbound queue".into(),
        CF_SEAT => "licence seats".into(),
        CF_ACL => "folder access lists".into(),
        CF_META => "store metadata (counters, format, admin credential)".into(),
        other => format!("{other} records"),
    }
}

/// Reads every record of every column family (but the message contents,
/// unless `contents`), with checksums verified, and reports each damaged
/// file with what it holds. Continues past damage to find all of it.
pub(crate) fn verify(db: &Db, dir: &Path, contents: bool) -> Result<Vec<Finding>> {
    let files = db.live_files().map_err(|e| Error::Storage(e.into_string()))?;
    let mut findings = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    for &cf_name in ALL_CFS {
        if cf_name == CF_BLOB {
            // Its table files hold the keys and blob indexes; reading the
            // values reads the contents, done below when asked.
            if contents {
                verify_contents(db, &mut findings)?;
            }
            continue;
        }
        let handle = cf(db, cf_name);
        let mut from: Option<Vec<u8>> = None;
        loop {
            let mut ro = ReadOptions::default();
            ro.set_verify_checksums(true);
            ro.fill_cache(false);
            let mode = match &from {
                Some(k) => IteratorMode::From(k, Direction::Forward),
                None => IteratorMode::Start,
            };
            let mut failed = None;
            for item in db.iterator_cf_opt(handle, ro, mode) {
                if let Err(e) = item {
                    failed = Some(e.into_string());
                    break;
                }
            }
            let Some(message) = failed else { break };
            let file = file_in(&message).map(|f| f.rsplit('/').next().unwrap_or(f).to_owned());
            let live = file.as_ref().and_then(|f| files.iter().find(|l| l.name.trim_start_matches('/') == f));
            let (object, next) = match live {
                Some(l) => (
                    format!(
                        "file {} ({} bytes, level {})",
                        dir.join(l.name.trim_start_matches('/')).display(),
                        l.size,
                        l.level
                    ),
                    l.end_key.clone(),
                ),
                None => (format!("column family {cf_name}"), None),
            };
            let key = file.clone().unwrap_or_else(|| message.clone());
            if reported.contains(&key) {
                break;
            }
            reported.push(key);
            let affected = match live {
                Some(l) => describe_range(cf_name, l.start_key.as_deref(), l.end_key.as_deref()),
                None => format!("{cf_name} records"),
            };
            findings.push(Finding { object, problem: format!("damaged ({message}); it holds {affected}") });
            // Go on after the damaged file's keys.
            match next {
                Some(mut end) => {
                    end.push(0);
                    from = Some(end);
                }
                None => break,
            }
        }
    }
    Ok(findings)
}

/// Reads every message content (one point read each, so that damage is
/// pinned to the message) and reports the damaged ones with the messages
/// that hold them.
fn verify_contents(db: &Db, findings: &mut Vec<Finding>) -> Result<()> {
    let refs = cf(db, CF_BLOB_REF);
    let blobs = cf(db, CF_BLOB);
    let mut damaged: Vec<(BlobId, String)> = Vec::new();
    for item in db.iterator_cf(refs, IteratorMode::Start) {
        let (k, _) = item.map_err(|e| Error::Storage(e.into_string()))?;
        let Ok(id) = <[u8; 32]>::try_from(&k[..]) else { continue };
        let mut ro = ReadOptions::default();
        ro.set_verify_checksums(true);
        ro.fill_cache(false);
        match db.get_pinned_cf_opt(blobs, id, &ro) {
            Ok(Some(value)) if BlobId::of(&value) != BlobId(id) => {
                damaged.push((BlobId(id), "its content does not match its hash".into()))
            }
            Ok(_) => {}
            Err(e) => damaged.push((BlobId(id), e.into_string())),
        }
    }
    if damaged.is_empty() {
        return Ok(());
    }
    // Which messages hold the damaged contents.
    let mut holders: Vec<Vec<String>> = vec![Vec::new(); damaged.len()];
    for item in db.iterator_cf(cf(db, CF_MESSAGE), IteratorMode::Start) {
        let Ok((k, v)) = item else { continue };
        let Ok(meta) = decode_message(Uid(be32_at(&k, 8).unwrap_or(0)), &v) else { continue };
        if let Some(i) = damaged.iter().position(|(b, _)| *b == meta.blob) {
            let a = be32_at(&k, 0).unwrap_or(0);
            let f = be32_at(&k, 4).unwrap_or(0);
            holders[i].push(format!("account {a} folder {f} UID {}", meta.uid.0));
        }
    }
    for ((id, why), held) in damaged.into_iter().zip(holders) {
        let by = if held.is_empty() { "no message".to_owned() } else { held.join(", ") };
        findings.push(Finding {
            object: format!("message content {}", id.to_hex()),
            problem: format!("damaged ({why}); held by {by}"),
        });
    }
    Ok(())
}

impl Store {
    /// A failed read as a core error; damage is recorded against this
    /// store (for errors that do not name their file, such as a blob's).
    pub(crate) fn read_failed(&self, e: rocksdb::Error) -> Error {
        let message = e.into_string();
        if is_corruption(&message) {
            mark_damaged(&self.path, &message);
            return Error::Storage(format!("the store is damaged: {message}"));
        }
        Error::Storage(message)
    }

    /// The damage recorded at run time (the `DAMAGED` file), if any.
    pub fn recorded_damage(&self) -> Option<String> {
        recorded_damage(&self.path)
    }
}

/// The text of the `DAMAGED` marker of the store in `dir`, if any.
pub fn recorded_damage(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(DAMAGED_FILE)).ok()
}
