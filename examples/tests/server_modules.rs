//! Unit tests of the reference server's modules (admin API, configuration).
//!
//! The modules are compiled into this test crate so that `cargo test` runs
//! their tests while still building the `server` example binary itself, which
//! the end-to-end tests start.

#![allow(dead_code)]

#[path = "../server/admin/mod.rs"]
mod admin;
#[path = "../server/config.rs"]
mod config;
