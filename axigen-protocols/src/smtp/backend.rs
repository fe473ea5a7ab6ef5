//! What the SMTP session asks of the rest of the server: authentication,
//! sender and recipient policy, and delivery. The server implements
//! [`SmtpBackend`]; the session calls it at the points RFC 5321 gives a
//! server a decision (MAIL, RCPT, the end of DATA/BDAT) and for AUTH.

use std::net::SocketAddr;

use async_trait::async_trait;
use axigen_core::model::{AccountId, Principal};

use super::command::{MailParams, ReversePath};
use super::reply::Reply;

/// What a listener is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Mail exchange (port 25): relay from other servers, no AUTH offered.
    Mx,
    /// Message submission (RFC 6409, ports 587 and 465): AUTH is offered and
    /// required before MAIL.
    Submission,
}

/// What the backend knows about a session when the session calls it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Unique per connection, for Received fields and logs.
    pub id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// The listener's role.
    pub role: Role,
    /// Whether the connection is encrypted (implicit TLS, or after STARTTLS).
    pub tls: bool,
    /// The argument of the last HELO/EHLO (cleared by STARTTLS, RFC 3207 4.2).
    pub helo: Option<String>,
    /// Whether the client greeted with EHLO (ESMTP) rather than HELO.
    pub esmtp: bool,
    /// Who the client authenticated as, if it did (cleared by STARTTLS).
    pub principal: Option<Principal>,
}

/// The transaction so far: set by MAIL, grown by each accepted RCPT.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The message's id, unique per transaction: the session id and the
    /// transaction's number in the session (`<session>-<n>`). The
    /// `Received:` field, the reply to DATA, the queue and the logs use it.
    pub id: String,
    /// The reverse-path of MAIL.
    pub from: ReversePath,
    /// The parameters of MAIL.
    pub params: MailParams,
    /// The recipients accepted so far, in order.
    pub recipients: Vec<Recipient>,
}

/// What the backend decided for one accepted recipient; carried to `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the client gave it (without `<>`).
    pub address: String,
    /// The local account it delivers to, or `None` for a recipient that is
    /// relayed elsewhere.
    pub local: Option<AccountId>,
}

/// The server side of an SMTP session's decisions.
///
/// Every method returns the [`Reply`] to send when it refuses; the session
/// sends it unchanged, so it should carry an enhanced status code
/// ([`Reply::new`]) whose class agrees with the code (RFC 2034 4).
#[async_trait]
pub trait SmtpBackend: Send + Sync + 'static {
    /// Largest message the listener accepts (advertised as SIZE, RFC 1870).
    fn max_message_size(&self, session: &SessionInfo) -> u64;

    /// Checks a user name and password (AUTH PLAIN or LOGIN). A refusal is
    /// usually `535 5.7.8` (RFC 4954 6), or `454 4.7.0` when the directory
    /// cannot answer. Only 5xx refusals count towards the per-address
    /// failure throttle.
    async fn authenticate(&self, session: &SessionInfo, user: &str, password: &str) -> Result<Principal, Reply>;

    /// Accepts or refuses the sender of a new transaction. The session has
    /// already checked the syntax, SIZE against
    /// [`max_message_size`](SmtpBackend::max_message_size), and that a
    /// submission session is authenticated.
    async fn mail_from(&self, session: &SessionInfo, from: &ReversePath, params: &MailParams) -> Result<(), Reply>;

    /// Accepts or refuses one recipient; `envelope` holds those accepted so
    /// far. The session has already checked the syntax and the recipient
    /// count.
    async fn rcpt_to(&self, session: &SessionInfo, envelope: &Envelope, to: &str) -> Result<Recipient, Reply>;

    /// The whole message (dot-unstuffed or the BDAT chunks joined), exactly as received. Resolves with the reply
    /// to send for DATA/BDAT LAST only once the message is durably stored or queued.
    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: bytes::Bytes) -> Reply;
}

/// Hands a message composed by the server for an authenticated account
/// (mail sent from a phone, a calendar invitation) to the submission path:
/// the same sender check, relay policy, processing rules, local delivery
/// and queue as an SMTP submission session. `tag` names the source in the
/// session id and logs. Resolves once the message is stored or queued;
/// the first refusal is returned.
pub async fn submit(
    backend: &dyn SmtpBackend,
    principal: &Principal,
    tag: &str,
    to: &[String],
    message: bytes::Bytes,
) -> Result<(), Reply> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let session = SessionInfo {
        id: tag.to_owned(),
        peer: loopback,
        local: loopback,
        role: Role::Submission,
        tls: true,
        helo: None,
        esmtp: true,
        principal: Some(principal.clone()),
    };
    let from = ReversePath::Mailbox(principal.address.to_string());
    let params = MailParams { size: Some(message.len() as u64), ..MailParams::default() };
    backend.mail_from(&session, &from, &params).await?;
    let id = crate::listener::session_id(tag.split('-').next().unwrap_or(tag));
    let mut envelope = Envelope { id, from, params, recipients: Vec::new() };
    for address in to {
        let accepted = backend.rcpt_to(&session, &envelope, address).await?;
        envelope.recipients.push(accepted);
    }
    let reply = backend.data(&session, &envelope, message).await;
    if reply.is_positive() { Ok(()) } else { Err(reply) }
}
