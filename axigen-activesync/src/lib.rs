//! Exchange ActiveSync for the axigen mail platform.
//!
//! This crate will hold the WBXML codec (MS-ASWBXML code pages 0-25), the
//! HTTP endpoint (MS-ASHTTP), provisioning (MS-ASPROV) and the commands
//! (MS-ASCMD). Access is decided from the account's effective
//! `activesync.*` settings (see `axigen_core::settings`) and the licence
//! (`axigen_core::license::Feature::ActiveSync`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod autodiscover;
mod compose;
mod directory_search;
mod find;
mod folders;
mod itemops;
mod manage;
mod oof;
mod ping;
mod provision;
pub mod request;
mod search;
mod service;
mod settings;
mod sync;
pub mod wbxml;

pub use autodiscover::AUTODISCOVER_PATH;
pub use request::{Command, EasRequest, ProtocolVersion};
pub use service::{ActiveSync, ActiveSyncConfig, HttpRequest, PATH};

/// The commands this server answers (the `MS-ASProtocolCommands` header).
pub const SERVED_COMMANDS: &[Command] = &[
    Command::Sync,
    Command::FolderSync,
    Command::FolderCreate,
    Command::FolderUpdate,
    Command::FolderDelete,
    Command::MoveItems,
    Command::SendMail,
    Command::SmartReply,
    Command::SmartForward,
    Command::GetItemEstimate,
    Command::ItemOperations,
    Command::Settings,
    Command::ResolveRecipients,
    Command::Search,
    Command::Find,
    Command::Ping,
    Command::Provision,
];
