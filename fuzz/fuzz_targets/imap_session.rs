//! A real `ImapService` fed an arbitrary byte stream over an in-memory duplex
//! stream, with the tiny in-memory `Directory` + `MailStore` of
//! `axigen_fuzz::memory` (no RocksDB): one account `u@example.com` / `p`
//! with INBOX (three messages), the special-use folders and `a/b`. Never panics, and the session ends once the client has
//! sent everything and closed its side (within the idle timeout, on a paused
//! clock so that timers cost nothing).
//!
//! Input: byte 0 chooses the options (bit 0 plaintext LOGIN allowed, bit 1
//! the connection counts as implicit TLS, bit 2 the client stops reading
//! responses), byte 1 the write size (1 to 256), the rest is what the client
//! sends.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axigen_fuzz::memory::Mem;
use axigen_protocols::imap::{ImapConfig, ImapService};
use axigen_protocols::listener::{ConnInfo, Service};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (options, write_size, input) = (data[0], usize::from(data[1]) + 1, &data[2..]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    runtime.block_on(async {
        let mem = Arc::new(Mem::new());
        let mut config = ImapConfig::new("imap.example.com");
        config.allow_plaintext_login = options & 1 != 0;
        config.max_literal = 4096;
        config.max_append = 8192;
        let idle_timeout = config.idle_timeout;
        let service = ImapService::new(config, mem.clone(), mem.clone(), mem.notifier.clone());
        let (client, server) = tokio::io::duplex(4096);
        let info = ConnInfo {
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            local: SocketAddr::from(([127, 0, 0, 1], 143)),
            listener: "imap".into(),
            tls: options & 2 != 0,
            request: Default::default(),
        };
        let serve = service.serve(Box::new(server), info, None);
        let stop_reading = options & 4 != 0;
        let (mut reader, mut writer) = tokio::io::split(client);
        let write = async move {
            for chunk in input.chunks(write_size) {
                if writer.write_all(chunk).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
            // Keep the write half (and so the stream) open until the end.
            writer
        };
        let read = async move {
            let mut sink = vec![0; 4096];
            if stop_reading {
                // Read only the greeting, then let the server's writes block.
                let _ = reader.read(&mut sink).await;
                return reader;
            }
            while let Ok(n) = reader.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            reader
        };
        // The session must end on its own once the client is done: at the
        // latest when the idle timeout fires (the clock is paused, so waiting
        // costs nothing).
        let limit = idle_timeout + Duration::from_secs(3600);
        let session = async {
            let ((), _writer, _reader) = tokio::join!(serve, write, read);
        };
        if stop_reading {
            // A client that never reads may hold the session until the
            // timeout; only a panic matters here.
            let _ = tokio::time::timeout(limit, session).await;
        } else {
            tokio::time::timeout(limit, session).await.expect("the session did not end after the client closed");
        }
    });
});
