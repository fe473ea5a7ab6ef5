//! RocksDB storage for the axigen mail platform: the embedded default behind
//! every storage trait of `axigen-core` ([`MailStore`](axigen_core::mailstore::MailStore),
//! [`Directory`](axigen_core::directory::Directory),
//! [`DirectoryAdmin`](axigen_core::directory::DirectoryAdmin) and
//! [`SeatStore`](axigen_core::license::SeatStore),
//! [`QueueStore`](axigen_core::queue::QueueStore),
//! [`DeviceStore`](axigen_core::devices::DeviceStore) and
//! [`AutoReplyStore`](axigen_core::autoreply::AutoReplyStore)) and
//! [`ItemStore`](axigen_core::itemstore::ItemStore)).
//!
//! # Durability
//!
//! Every mutation runs on one committer thread; a group of operations is
//! written as one batch with `sync = true` (see the `commit` module's notes): when a
//! method's future resolves `Ok`, the change is on disk, and concurrent
//! operations share one fsync (group commit).
//!
//! # Layout
//!
//! Integers in keys are big-endian, so keys sort numerically.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `meta` | `format` | store format version (u32) |
//! | | `next_account` | next account id (u32) |
//! | | `last_uidvalidity` | last UIDVALIDITY handed out (u32) |
//! | | `next_seat_seq` | seat acquisition counter (u64) |
//! | | `admin` | JSON: admin user name and argon2 hash |
//! | | `defaults` | JSON: server-level setting values, by name |
//! | | `next_queue_id` | next outbound queue id (u64) |
//! | `directory` | `D` domain | JSON [`Domain`](axigen_core::model::Domain) |
//! | | `C` domain NUL class | JSON [`AccountClass`](axigen_core::model::AccountClass) |
//! | | `A` account-id | JSON [`Account`](axigen_core::model::Account) |
//! | | `N` domain NUL local-part | account id (address index) |
//! | | `L` domain NUL local-part | JSON [`Alias`](axigen_core::model::Alias) |
//! | `account` | account-id | next folder id, highest MODSEQ, bytes, messages |
//! | `folder` | account-id folder-id | UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, counts, size, kind, role, subscribed, name |
//! | `folder_name` | account-id name | folder id (INBOX upper-cased) |
//! | `message` | account-id folder-id uid | MODSEQ, flags, internal date, size, blob id, keywords |
//! | `changelog` | account-id modseq | folder id, change kind, uid |
//! | `blob` | BLAKE3 of the content | the message (BlobDB value files, LZ4) |
//! | `blob_ref` | BLAKE3 of the content | number of message records that point to it |
//! | `structure` | BLAKE3 of the content | version byte, postcard [`MessageStructure`](axigen_core::structure::MessageStructure) |
//! | `seat` | feature NUL account-id | acquisition sequence number |
//! | `queue` | queue-id | JSON: envelope, attempts, next attempt, blob id (content in `blob`) |
//! | `acl` | `G` owner folder grantee | rights (u16): a folder's access-list entry |
//! | | `R` grantee owner folder | rights (u16): the same entry, found from the grantee |
//! | | `S` owner folder account | empty: the account subscribed to the shared folder |
//! | `device` | account-id device-id | JSON [`Device`](axigen_core::devices::Device): an ActiveSync partnership |
//! | `sync_state` | account-id device-id-length(u8) device-id collection | the protocol's opaque state for one collection |
//! | `autoreply` | account-id `S` | JSON [`AutoReply`](axigen_core::autoreply::AutoReply): out-of-office settings |
//! | | account-id `R` sender | when the sender was last answered (i64, Unix seconds) |
//! | `rpop` | account-id `S`/`T` name | JSON: a remote POP3 source / its status |
//! | | account-id `U` name-length name uidl | when that remote message was fetched |
//! | `item` | account-id folder-id uid | a groupware item: MODSEQ, size, write time, blob id, resource name, postcard [`ItemIndex`](axigen_core::groupware::ItemIndex) |
//! | `item_key` | account-id folder-id `N` name | item uid: the resource name index |
//! | | account-id folder-id `U` object UID | item uid: the iCalendar/vCard UID index |
//! | | account-id folder-id `T` uid | the resource name of a removed item (for sync reports) |
//! | | account-id folder-id `P` `{namespace}name` | a DAV collection property (display name, colour, ...) |
//!
//! A message delivered to many folders, or copied, is stored once in `blob`
//! and counted in `blob_ref`; the blob goes when its last reference does.
//! Its structure (envelope, body structure, section offsets) is computed once,
//! on the caller's thread, and written and deleted with it, so that IMAP
//! `FETCH ENVELOPE`/`BODYSTRUCTURE`/`BODY[1.2]` over a large mailbox reads a
//! small record per message instead of parsing every message.
//!
//! # Format versions
//!
//! The `meta/format` key records the layout version ([`FORMAT_VERSION`]).
//! Opening a store written by a newer or unknown format fails with a message
//! that says so; an older format is upgraded by the migrations in `format.rs`
//! before the store is used.

#![forbid(unsafe_code)]

mod acl;
mod autoreply;
mod check;
mod commit;
mod devices;
mod directory;
mod format;
mod headers;
mod integrity;
mod items;
mod keys;
mod listings;
mod mail;
mod queue;
mod rpop;
mod seats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axigen_core::notify::ChangeNotifier;
use axigen_core::settings::ServerDefaults;
use axigen_core::{Error, Result};
use rocksdb::{ColumnFamilyDescriptor, DBCompressionType, Options};

pub use check::{CheckReport, Finding};
pub use format::FORMAT_VERSION;
pub use integrity::{DAMAGED_FILE, advice as damage_advice, recorded_damage};

use commit::{Committer, Db};

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Built-in server-wide setting defaults. The server level stored in the
    /// store (see [`Store::set_server_default`]) applies on top of them.
    pub defaults: ServerDefaults,
    /// Block cache size in bytes.
    pub cache_bytes: usize,
    /// Memory for message headers kept for header searches and fetches
    /// (`SEARCH SUBJECT`, `BODY.PEEK[HEADER.FIELDS (...)]`), in bytes.
    pub header_cache_bytes: usize,
    /// Memory for decoded message structures, in bytes (IMAP FETCH
    /// ENVELOPE, BODYSTRUCTURE and sections of a whole mailbox).
    pub structure_cache_bytes: usize,
    /// Messages whose metadata is kept ready in folder listings, over all
    /// folders (about 100 bytes each): a SELECT or FETCH of a folder read
    /// lately and unchanged since reads none of it from RocksDB.
    pub listing_cache_messages: usize,
    /// Free space writes must leave on the store's file system, in bytes
    /// (default 128 MiB); a write that would go below it is refused with
    /// [`Error::NoSpace`] and writes resume once space is freed. 0 turns
    /// the check off.
    pub min_free_bytes: u64,
    /// Open for serving (default true): refuse a store recorded as damaged
    /// (its `DAMAGED` file) or whose table files fail their checksums, with
    /// [`Error::Damaged`]. `false` opens it anyway, to check it
    /// ([`Store::check`]) or to read what is intact.
    pub verify_on_open: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            defaults: ServerDefaults::default(),
            cache_bytes: 64 << 20,
            header_cache_bytes: 32 << 20,
            structure_cache_bytes: 64 << 20,
            listing_cache_messages: 250_000,
            min_free_bytes: 128 << 20,
            verify_on_open: true,
        }
    }
}

/// The RocksDB store. Cheap to share behind an `Arc`.
pub struct Store {
    db: Arc<Db>,
    committer: Committer,
    notifier: Arc<ChangeNotifier>,
    base_defaults: ServerDefaults,
    /// `base_defaults` with the stored server-level values applied.
    defaults: std::sync::RwLock<ServerDefaults>,
    path: PathBuf,
    blobs: Arc<headers::BlobCaches>,
    listings: listings::ListingCache,
}

impl Store {
    /// Memory held by the header cache (see [`StoreOptions::header_cache_bytes`]).
    pub fn header_cache_bytes(&self) -> usize {
        self.blobs.headers.bytes()
    }

    /// Opens (creating if needed) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Self::open_with_notifier(path, options, Arc::new(ChangeNotifier::new()))
    }

    /// Opens the store, waking waiters through the given notifier.
    pub fn open_with_notifier(
        path: impl AsRef<Path>,
        options: StoreOptions,
        notifier: Arc<ChangeNotifier>,
    ) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|e| Error::Storage(format!("cannot create {}: {e}", path.display())))?;
        let cache = rocksdb::Cache::new_lru_cache(options.cache_bytes);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);

        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_keep_log_file_num(10);
        db_opts.set_block_based_table_factory(&table);

        let cfs = keys::ALL_CFS.iter().map(|&name| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            if name == keys::CF_BLOB {
                // Message bodies go to blob files (key-value separation), so
                // compactions move small keys, not whole messages.
                o.set_enable_blob_files(true);
                o.set_min_blob_size(2048);
                o.set_blob_compression_type(DBCompressionType::Lz4);
                o.set_compression_type(DBCompressionType::Lz4);
                o.set_enable_blob_gc(true);
            } else {
                o.set_compression_type(DBCompressionType::Lz4);
            }
            ColumnFamilyDescriptor::new(name, o)
        });
        if options.verify_on_open
            && let Some(recorded) = integrity::recorded_damage(&path)
        {
            return Err(Error::Damaged(recorded.trim_end().to_owned()));
        }
        let db = Db::open_cf_descriptors(&db_opts, &path, cfs).map_err(|e| {
            let message = e.into_string();
            if integrity::is_corruption(&message) {
                Error::Damaged(format!(
                    "the store at {} cannot be opened: {message}\n\n{}",
                    path.display(),
                    integrity::advice(&path)
                ))
            } else {
                Error::Storage(format!("cannot open store at {}: {message}", path.display()))
            }
        })?;
        if options.verify_on_open {
            let findings = integrity::verify(&db, &path, false)?;
            if !findings.is_empty() {
                let list: Vec<String> = findings.iter().map(|f| format!("- {}: {}", f.object, f.problem)).collect();
                return Err(Error::Damaged(format!(
                    "the store at {} is damaged:\n{}\n\n{}",
                    path.display(),
                    list.join("\n"),
                    integrity::advice(&path)
                )));
            }
        }
        format::check_and_migrate(&db)?;
        let db = Arc::new(db);
        let space = commit::SpaceGuard { path: path.clone(), reserve: options.min_free_bytes };
        let blobs = Arc::new(headers::BlobCaches {
            headers: headers::HeaderCache::new(options.header_cache_bytes),
            structures: headers::BlobCache::new(options.structure_cache_bytes),
        });
        let committer = Committer::start(db.clone(), notifier.clone(), space, blobs.clone());
        let store = Store {
            db,
            committer,
            notifier,
            base_defaults: options.defaults,
            defaults: std::sync::RwLock::new(options.defaults),
            path,
            blobs,
            listings: listings::ListingCache::new(options.listing_cache_messages),
        };
        store.reload_defaults()?;
        Ok(store)
    }

    /// Writes what is in memory to table files (a clean shutdown: the next
    /// start replays no log, and `check` reads every record from files).
    pub fn flush(&self) -> Result<()> {
        let handles: Vec<_> = keys::ALL_CFS.iter().map(|n| commit::cf(&self.db, n)).collect();
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        self.db.flush_cfs_opt(&handles, &fo).map_err(commit::storage)
    }

    /// The notifier that this store wakes after each durable change.
    pub fn notifier(&self) -> &Arc<ChangeNotifier> {
        &self.notifier
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn defaults(&self) -> ServerDefaults {
        *self.defaults.read().unwrap_or_else(|e| e.into_inner())
    }
}
