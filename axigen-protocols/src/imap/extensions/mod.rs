//! IMAP extensions, one file each, named after what they add to the
//! command grammar.

pub mod acl;
pub mod condstore;
pub mod id;
pub mod idle;
pub mod notify;
pub mod quota;
pub mod sasl;
pub mod special_use;
