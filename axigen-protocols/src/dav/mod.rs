//! CalDAV (RFC 4791) and CardDAV (RFC 6352) over WebDAV (RFC 4918): the
//! groupware folders of every account, served on the `http` listeners.

// Handlers end early with the response to send as their error: one per
// request, so its size (an HTTP response, 144 bytes) costs nothing worth
// a box.
#![allow(clippy::result_large_err)]

pub mod filter;
mod props;
mod report;
mod schedule;
mod service;
pub mod xml;

pub use report::check_query;
pub use service::{Dav, DavConfig, DavRequest};
