//! The message text: DATA (RFC 5321 4.1.1.4) with dot-stuffing, and BDAT
//! chunks (RFC 3030).

use super::{Call, Expect, Pending, Session, Step};
use crate::smtp::command::Body;
use crate::smtp::reply::Reply;
use crate::smtp::text::{DotDecoder, TextError};

/// The BDAT message being assembled (RFC 3030 2).
#[derive(Debug, Default)]
pub(super) struct Chunks {
    message: Vec<u8>,
    size: u64,
    /// Set when a chunk made the message too large: the reply for every
    /// later chunk of this transaction (their octets are still read).
    failure: Option<Reply>,
}

impl Session {
    /// DATA (RFC 5321 4.1.1.4).
    pub(super) fn on_data_command(&mut self) -> Step {
        let Some(envelope) = &self.envelope else {
            return self.bad_sequence("Need MAIL before DATA");
        };
        if self.chunks.is_some() {
            // RFC 3030 2: DATA and BDAT cannot be mixed in one transaction.
            return self.bad_sequence("DATA after BDAT");
        }
        if envelope.params.body == Some(Body::BinaryMime) {
            // RFC 3030 3: BINARYMIME messages are sent with BDAT only.
            return self.bad_sequence("BODY=BINARYMIME needs BDAT");
        }
        if envelope.recipients.is_empty() {
            // RFC 5321 3.3 and RFC 2920 3.1: "no valid recipients".
            return self.refuse(Reply::new(554, (5, 5, 1), "No valid recipients"));
        }
        self.expect = Expect::Data(DotDecoder::new(self.max_size()));
        // RFC 2034 3: no enhanced code in 3xx replies.
        Step::ReadData(Reply::plain(354, "Start mail input; end with <CRLF>.<CRLF>"))
    }

    /// BDAT (RFC 3030 2). The chunk's octets are always read, also when the
    /// command is refused, so that they are never taken for commands.
    pub(super) fn on_bdat(&mut self, size: u64, last: bool) -> Step {
        let refusal = match &self.envelope {
            None => Some(Reply::new(503, (5, 5, 1), "Need MAIL before BDAT")),
            Some(envelope) if envelope.recipients.is_empty() => Some(Reply::new(554, (5, 5, 1), "No valid recipients")),
            Some(_) => None,
        };
        if refusal.is_none() {
            let max = self.max_size();
            let chunks = self.chunks.get_or_insert_with(Chunks::default);
            if chunks.failure.is_none() && chunks.size.saturating_add(size) > max {
                chunks.failure = Some(Reply::new(552, (5, 3, 4), "Message size exceeds fixed maximum message size"));
                chunks.message = Vec::new();
            }
        }
        self.expect = Expect::Chunk { remaining: size, last, refusal };
        if size == 0 { self.chunk_complete() } else { Step::ReadChunk(size) }
    }

    /// Message text after [`Step::ReadData`], or chunk octets after
    /// [`Step::ReadChunk`]. Returns how many octets of `input` were used
    /// and, once the text or chunk is complete, the next step; the octets
    /// not used belong to the next command.
    pub fn on_data(&mut self, input: &[u8]) -> (usize, Option<Step>) {
        match &mut self.expect {
            Expect::Data(decoder) => {
                let Some(used) = decoder.feed(input) else { return (input.len(), None) };
                let Expect::Data(decoder) = std::mem::replace(&mut self.expect, Expect::Command) else {
                    return (used, Some(self.internal_error()));
                };
                (used, Some(self.data_complete(decoder.finish())))
            }
            Expect::Chunk { remaining, refusal, .. } => {
                let take = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                let done = *remaining == 0;
                if refusal.is_none()
                    && let Some(chunks) = &mut self.chunks
                {
                    chunks.size = chunks.size.saturating_add(take as u64);
                    if chunks.failure.is_none() {
                        chunks.message.extend_from_slice(&input[..take]);
                    }
                }
                (take, done.then(|| self.chunk_complete()))
            }
            _ => (0, Some(self.internal_error())),
        }
    }

    pub(super) fn data_complete(&mut self, text: Result<Vec<u8>, TextError>) -> Step {
        match text {
            Ok(message) => {
                self.expect = Expect::Backend(Pending::Data);
                Step::Call(Call::Data { message: message.into() })
            }
            Err(err) => {
                // RFC 5321 4.1.1.4: the transaction is over either way.
                self.reset_transaction();
                Step::Reply(match err {
                    TextError::TooLarge => {
                        Reply::new(552, (5, 3, 4), "Message size exceeds fixed maximum message size")
                    }
                    // RFC 5321 2.3.8: CR and LF only as CRLF.
                    TextError::BareLineEnding => {
                        Reply::new(554, (5, 6, 0), "Message contains bare CR or LF; lines must end with CRLF")
                    }
                })
            }
        }
    }

    pub(super) fn chunk_complete(&mut self) -> Step {
        let Expect::Chunk { last, refusal, .. } = std::mem::replace(&mut self.expect, Expect::Command) else {
            return self.internal_error();
        };
        if let Some(reply) = refusal {
            if last {
                self.reset_transaction();
            }
            return self.refuse(reply);
        }
        let Some(chunks) = self.chunks.as_mut() else {
            return self.internal_error();
        };
        if let Some(failure) = &chunks.failure {
            let reply = failure.clone();
            if last {
                self.reset_transaction();
            }
            return Step::Reply(reply);
        }
        if !last {
            return Step::Reply(Reply::new(250, (2, 0, 0), format!("{} octets received", chunks.size)));
        }
        let message = std::mem::take(&mut chunks.message);
        self.expect = Expect::Backend(Pending::Data);
        Step::Call(Call::Data { message: message.into() })
    }
}
