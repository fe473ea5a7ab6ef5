//! The sans-IO SMTP session fed an arbitrary byte stream, delivered in reads
//! of a fuzzed size and framed like the tokio driver does, with an in-memory
//! backend. Never panics, always makes progress, and every reply is
//! well-formed.
//!
//! Input: byte 0 chooses the listener (bit 0 submission, bit 1 implicit
//! TLS, bit 2 STARTTLS offered, bit 3 plaintext AUTH allowed), byte 1 the
//! read size (1 to 256), the rest is what the client sends.
#![no_main]

use std::sync::Arc;

use axigen_core::model::{AccountId, Address, Principal};
use axigen_protocols::smtp::text::{Frame, LineFramer};
use axigen_protocols::smtp::{Call, Outcome, Recipient, Reply, Role, Session, SessionInfo, SmtpConfig, Step};
use libfuzzer_sys::fuzz_target;

struct Network<'a> {
    rest: &'a [u8],
    read_size: usize,
    buf: Vec<u8>,
}

impl Network<'_> {
    /// One more read; false at the end of the stream.
    fn fill(&mut self) -> bool {
        if self.rest.is_empty() {
            return false;
        }
        let n = self.read_size.min(self.rest.len());
        self.buf.extend_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        true
    }
}

fn check(reply: &Reply) {
    assert!((200..600).contains(&reply.code), "{reply:?}");
    if let Some((class, _, _)) = reply.enhanced {
        assert_eq!(u16::from(class), reply.code / 100, "{reply:?}");
    }
    let wire = reply.encode();
    let decoded = Reply::decode(&wire).expect("a reply decodes");
    assert_eq!(decoded.code, reply.code);
}

fn backend(session: &Session, call: Call) -> Outcome {
    match call {
        Call::Authenticate { user, password } => Outcome::Authenticated(if user == "u" && password == "p" {
            Ok(Principal { account: AccountId(1), address: Address::parse("u@example.com").unwrap() })
        } else {
            Err(Reply::new(535, (5, 7, 8), "Authentication credentials invalid"))
        }),
        Call::MailFrom { .. } => Outcome::MailFrom(Ok(())),
        Call::RcptTo { to } => {
            assert!(session.envelope().is_some(), "RCPT call outside a transaction");
            Outcome::RcptTo(if to.contains("@example.com") {
                Ok(Recipient { address: to, local: Some(AccountId(1)) })
            } else {
                Err(Reply::new(550, (5, 1, 1), "No such user"))
            })
        }
        Call::Data { message } => {
            let envelope = session.envelope().expect("DATA call outside a transaction");
            assert!(!envelope.recipients.is_empty());
            assert!(message.len() <= 2048);
            Outcome::Data(Reply::new(250, (2, 6, 0), "Queued"))
        }
    }
}

/// Feeds DATA text or a chunk until the session has its next step; `None`
/// at the end of the input.
fn read_message(session: &mut Session, net: &mut Network<'_>) -> Option<Step> {
    loop {
        if net.buf.is_empty() && !net.fill() {
            return None;
        }
        let (used, next) = session.on_data(&net.buf);
        assert!(used <= net.buf.len());
        assert!(used > 0 || next.is_some(), "no progress");
        net.buf.drain(..used);
        if next.is_some() {
            return next;
        }
    }
}

/// Performs a step and what follows; false when the session is over.
fn perform(session: &mut Session, net: &mut Network<'_>, mut step: Step) -> bool {
    loop {
        step = match step {
            Step::Reply(reply) => {
                check(&reply);
                return true;
            }
            Step::Call(call) => {
                let outcome = backend(session, call);
                session.on_backend(outcome)
            }
            Step::ReadData(reply) => {
                check(&reply);
                assert_eq!(reply.code, 354);
                match read_message(session, net) {
                    Some(next) => next,
                    None => return false,
                }
            }
            Step::ReadChunk(size) => {
                assert!(size > 0);
                match read_message(session, net) {
                    Some(next) => next,
                    None => return false,
                }
            }
            Step::StartTls(reply) => {
                check(&reply);
                net.buf.clear();
                session.on_tls_established();
                return true;
            }
            Step::Close(replies) => {
                assert!(!replies.is_empty());
                replies.iter().for_each(check);
                assert!(session.is_closed());
                return false;
            }
        };
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, read_size, rest @ ..] = data else { return };
    let role = if flags & 1 != 0 { Role::Submission } else { Role::Mx };
    let mut config = SmtpConfig::new("fuzz.example", role);
    config.allow_plaintext_auth = flags & 8 != 0;
    config.max_line = 512;
    config.max_recipients = 5;
    let info = SessionInfo {
        id: "fuzz".into(),
        peer: "192.0.2.1:1".parse().unwrap(),
        local: "192.0.2.2:25".parse().unwrap(),
        role,
        tls: flags & 2 != 0,
        helo: None,
        esmtp: false,
        principal: None,
    };
    let mut session = Session::new(Arc::new(config), info, flags & 4 != 0, |_| 2048);
    check(&session.greeting());
    let mut net = Network { rest, read_size: usize::from(*read_size) + 1, buf: Vec::new() };
    let mut framer = LineFramer::new(512);
    loop {
        let step = match framer.next(&net.buf) {
            Frame::Line(n) => {
                let step = session.on_line(&net.buf[..n]);
                net.buf.drain(..n);
                step
            }
            Frame::TooLong(n) => {
                net.buf.drain(..n);
                session.on_line_too_long()
            }
            Frame::Skip(n) => {
                net.buf.drain(..n);
                continue;
            }
            Frame::NeedMore => {
                if net.fill() {
                    continue;
                }
                break;
            }
        };
        if !perform(&mut session, &mut net, step) {
            break;
        }
    }
});
