//! SMTP receiving and processing (seed 3.2.1, 3.2.2): the [`SmtpBackend`]
//! that decides who may send, who may receive, and what happens to each
//! accepted message.
//!
//! Implementation notes:
//!
//! - No open relay: on the MX role only hosted domains are accepted as
//!   recipients; on the submission role remote recipients need an
//!   authenticated account whose `relay.allowed` policy is true.
//! - `postmaster` is always accepted (RFC 5321 4.5.1): bare, it goes to
//!   the postmaster of the host name's domain; at a hosted domain with no
//!   account or alias of that name, to the account the domain names (its
//!   `postmaster` field), else to its first account
//!   ([`Directory::postmaster`]).
//! - On submission the envelope sender must be the authenticated account's
//!   address or one of its aliases.
//! - A message is parsed once (mail-parser) into a [`MessageSummary`] that
//!   every filter shares; filters decide per recipient.
//! - `250` is answered only after every local copy is durably stored (one
//!   atomic write for all local recipients, the content stored once) and the
//!   remote recipients are durably queued. The store wakes IDLE/Ping waiters
//!   itself once the write is durable.

mod autoreply;
mod filters;
mod received;
mod scheduling;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::autoreply::{Audience, AutoReplyStore, DEFAULT_REPLY_INTERVAL, reason_not_to_reply};
use axigen_core::delivery::{DeliveryFilter, Incoming, MessageSummary, RecipientVerdict, Refusal, Verdict};
use axigen_core::directory::Directory;
use axigen_core::mailstore::{DeliveryTarget, Flags, FolderKind, MailStore, QuotaLimit};
use axigen_core::model::{AccountId, Address, DomainName, Principal};
use axigen_core::queue::{OutboundMessage, QueueStore};
use axigen_core::settings::EffectiveSettings;
use axigen_core::{Error, unix_now};
use bytes::Bytes;

pub use filters::{CommandScanner, Rule, RuleAction, RulesFilter, ScannerConfig, SizeLimitFilter};
pub use received::{Trace, received_header, rfc5322_date};

use crate::smtp::backend::{Envelope, Recipient, Role, SessionInfo, SmtpBackend};
use crate::smtp::command::{MailParams, ReversePath};
use crate::smtp::reply::Reply;

/// How long one filter may take before it counts as failed.
const FILTER_TIMEOUT: Duration = Duration::from_secs(60);

/// The store-backed SMTP backend.
pub struct InboundBackend {
    directory: Arc<dyn Directory>,
    store: Arc<dyn MailStore>,
    queue: Arc<dyn QueueStore>,
    filters: Vec<Arc<dyn DeliveryFilter>>,
    hostname: String,
    max_message_size: u64,
    auto_reply: Option<Arc<dyn AutoReplyStore>>,
    items: Option<Arc<dyn axigen_core::itemstore::ItemStore>>,
}

impl InboundBackend {
    /// A backend over the directory, mail store and outbound queue. `filters`
    /// run in order after the built-in size-limit filter.
    pub fn new(
        directory: Arc<dyn Directory>,
        store: Arc<dyn MailStore>,
        queue: Arc<dyn QueueStore>,
        filters: Vec<Arc<dyn DeliveryFilter>>,
        hostname: impl Into<String>,
        max_message_size: u64,
    ) -> Self {
        let mut all: Vec<Arc<dyn DeliveryFilter>> = vec![Arc::new(SizeLimitFilter::new(directory.clone()))];
        all.extend(filters);
        InboundBackend {
            directory,
            store,
            queue,
            filters: all,
            hostname: hostname.into(),
            max_message_size,
            auto_reply: None,
            items: None,
        }
    }

    /// Answers mail for accounts that are out of the office, with the
    /// settings kept in `store` (see [`axigen_core::autoreply`]).
    pub fn with_auto_reply(mut self, store: Arc<dyn AutoReplyStore>) -> Self {
        self.auto_reply = Some(store);
        self
    }

    /// Applies calendar invitations, cancellations and replies that local
    /// recipients receive by mail (iMIP) to their calendars in `items`
    /// (see the `scheduling` module).
    pub fn with_items(mut self, items: Arc<dyn axigen_core::itemstore::ItemStore>) -> Self {
        self.items = Some(items);
        self
    }

    /// Runs a message fetched from a remote mailbox (RPOP) for `account`
    /// (reached as `address`) through the same filters as SMTP deliveries:
    /// the folder to store it in (`default_folder` unless a rule files it
    /// elsewhere, created if missing), or `None` when a filter refuses or
    /// discards it. `Err` is a temporary failure (try again later).
    pub async fn process_fetched(
        &self,
        account: AccountId,
        address: &str,
        default_folder: &str,
        raw: &Bytes,
    ) -> Result<Option<axigen_core::mailstore::FolderId>, String> {
        let summary = summarize(raw);
        let incoming = Incoming { envelope_from: None, peer: None, authenticated: None, raw, summary: &summary };
        let mut verdicts = vec![RecipientVerdict {
            address: address.to_owned(),
            account: Some(account),
            verdict: Verdict::Deliver { folder: default_folder.to_owned() },
        }];
        self.run_filters(&incoming, &mut verdicts).await;
        match &verdicts[0].verdict {
            Verdict::Deliver { folder } => {
                self.resolve_folder(account, folder).await.map(Some).map_err(|r| format!("{r:?}"))
            }
            Verdict::Reject(why) if why.code < 500 => Err(why.to_string()),
            Verdict::Reject(why) => {
                tracing::info!(%account, reason = %why, "fetched message refused by a filter");
                Ok(None)
            }
            Verdict::Discard | Verdict::Relay => Ok(None),
        }
    }

    /// Sends the out-of-office replies for a message stored for the local
    /// recipients among `verdicts`. The message is already accepted: a
    /// failure is logged, never turned into an SMTP error.
    async fn send_auto_replies(
        &self,
        session: &SessionInfo,
        sender: Option<&str>,
        summary: &MessageSummary,
        verdicts: &[RecipientVerdict],
    ) {
        let Some(store) = &self.auto_reply else { return };
        let mut answered: Vec<AccountId> = Vec::new();
        for r in verdicts {
            let (Verdict::Deliver { .. }, Some(account)) = (&r.verdict, r.account) else { continue };
            if answered.contains(&account) {
                continue;
            }
            answered.push(account);
            let now = unix_now() as i64;
            let settings = match store.auto_reply(account).await {
                Ok(Some(s)) if s.active_at(now) => s,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(session = %session.id, %account, error = %e, "cannot read out-of-office settings");
                    continue;
                }
            };
            let owner = match self.directory.account(account).await {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(session = %session.id, %account, error = %e, "out-of-office reply: account lookup failed");
                    continue;
                }
            };
            let own = [owner.address.to_string(), r.address.clone()];
            if let Some(why) = reason_not_to_reply(sender, &summary.headers, &own) {
                tracing::debug!(session = %session.id, %account, reason = why, "no out-of-office reply");
                continue;
            }
            let Some(sender) = sender else { continue };
            let internal = match Address::parse(sender) {
                Ok(a) => self.directory.is_local_domain(&a.domain).await.unwrap_or(false),
                Err(_) => continue,
            };
            let audience = if internal { Audience::Internal } else { Audience::ExternalUnknown };
            let Some(reply) = autoreply::build(
                &settings,
                audience,
                &owner,
                sender,
                &summary.headers,
                &self.hostname,
                now,
                &session.id,
            ) else {
                continue;
            };
            match store.claim_reply(account, sender, now, DEFAULT_REPLY_INTERVAL).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(session = %session.id, %account, %sender, "out-of-office reply sent recently");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(session = %session.id, %account, error = %e, "out-of-office reply not recorded");
                    continue;
                }
            }
            match self.send_notification(sender, Bytes::from(reply)).await {
                Ok(()) => tracing::info!(session = %session.id, %account, %sender, "out-of-office reply sent"),
                Err(_) => tracing::error!(session = %session.id, %account, %sender, "out-of-office reply not sent"),
            }
        }
    }

    async fn settings(&self, account: AccountId) -> Result<EffectiveSettings, Reply> {
        self.directory.effective_settings(account).await.map_err(|e| temporary(&e))
    }

    async fn run_filters(&self, incoming: &Incoming<'_>, recipients: &mut [RecipientVerdict]) {
        for filter in &self.filters {
            let outcome = tokio::time::timeout(FILTER_TIMEOUT, filter.apply(incoming, recipients)).await;
            let failure = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.0,
                Err(_) => format!("no answer within {FILTER_TIMEOUT:?}"),
            };
            if filter.fail_open() {
                tracing::warn!(filter = filter.name(), error = %failure, "filter failed; accepting (fail-open)");
                continue;
            }
            tracing::warn!(filter = filter.name(), error = %failure, "filter failed; deferring (fail-closed)");
            for r in recipients.iter_mut() {
                if matches!(r.verdict, Verdict::Deliver { .. } | Verdict::Relay) {
                    r.verdict = Verdict::Reject(Refusal {
                        code: 451,
                        enhanced: (4, 7, 1),
                        text: "message processing is temporarily unavailable, try again later".into(),
                    });
                }
            }
            return;
        }
    }

    /// Stores the local copies in one atomic write; returns the refusal of
    /// each recipient that could not take it.
    async fn deliver_local(&self, content: &Bytes, verdicts: &mut [RecipientVerdict]) -> Result<(), Reply> {
        let mut targets = Vec::new();
        let mut owners = Vec::new();
        for (i, r) in verdicts.iter_mut().enumerate() {
            let (Verdict::Deliver { folder }, Some(account)) = (&r.verdict, r.account) else { continue };
            let settings = self.settings(account).await?;
            let quota = QuotaLimit {
                max_bytes: settings.quota_storage_bytes.value,
                max_messages: settings.quota_messages.value,
            };
            let usage = self.store.quota_usage(account).await.map_err(|e| temporary(&e))?;
            let size = content.len() as u64;
            if (quota.max_bytes > 0 && usage.bytes + size > quota.max_bytes)
                || (quota.max_messages > 0 && usage.messages + 1 > quota.max_messages)
            {
                r.verdict = Verdict::Reject(Refusal {
                    code: 552,
                    enhanced: (5, 2, 2),
                    text: format!("mailbox of <{}> is full", r.address),
                });
                continue;
            }
            let folder = self.resolve_folder(account, folder).await?;
            // Several addresses (aliases) of one account get one copy.
            if targets.iter().any(|t: &DeliveryTarget| t.account == account && t.folder == folder) {
                continue;
            }
            targets.push(DeliveryTarget { account, folder, flags: Flags::empty(), quota });
            owners.push(i);
        }
        if targets.is_empty() {
            return Ok(());
        }
        match self.store.deliver(content.clone(), unix_now() as i64, &targets).await {
            Ok(_) => Ok(()),
            // A quota race between the check above and the write: deliver one by one.
            Err(Error::OverQuota(_)) => {
                for (t, i) in targets.iter().zip(owners) {
                    if let Err(e) =
                        self.store.deliver(content.clone(), unix_now() as i64, std::slice::from_ref(t)).await
                    {
                        verdicts[i].verdict = match e {
                            Error::OverQuota(_) => Verdict::Reject(Refusal {
                                code: 552,
                                enhanced: (5, 2, 2),
                                text: format!("mailbox of <{}> is full", verdicts[i].address),
                            }),
                            other => return Err(temporary(&other)),
                        };
                    }
                }
                Ok(())
            }
            Err(e) => Err(temporary(&e)),
        }
    }

    /// Delivers a notification with the null reverse path: into the sender's
    /// INBOX when the sender is local, else through the outbound queue.
    async fn send_notification(&self, sender: &str, report: Bytes) -> Result<(), Reply> {
        if let Ok(address) = Address::parse(sender)
            && let Some(account) = self.directory.resolve_recipient(&address).await.map_err(|e| temporary(&e))?
        {
            let inbox = self.resolve_folder(account, "INBOX").await?;
            // Notifications are not held back by quota: the sender must learn of the failure.
            let target = DeliveryTarget { account, folder: inbox, flags: Flags::empty(), quota: QuotaLimit::default() };
            self.store.deliver(report, unix_now() as i64, &[target]).await.map_err(|e| temporary(&e))?;
            return Ok(());
        }
        let outbound = OutboundMessage {
            message_id: String::new(),
            from: String::new(),
            recipients: vec![sender.to_owned()],
            content: report,
        };
        self.queue.enqueue(outbound).await.map(|_| ()).map_err(|e| temporary(&e))
    }

    /// The folder a rule named, created if missing; INBOX when the name is unusable.
    async fn resolve_folder(&self, account: AccountId, name: &str) -> Result<axigen_core::mailstore::FolderId, Reply> {
        if let Some(f) = self.store.folder_by_name(account, name).await.map_err(|e| temporary(&e))? {
            return Ok(f.id);
        }
        match self.store.create_folder(account, name, FolderKind::Mail, None).await {
            Ok(f) => Ok(f.id),
            Err(Error::AlreadyExists(_)) => self
                .store
                .folder_by_name(account, name)
                .await
                .map_err(|e| temporary(&e))?
                .map(|f| f.id)
                .ok_or_else(|| Reply::new(451, (4, 3, 0), "folder vanished, try again")),
            Err(e) => {
                tracing::warn!(%account, folder = %name, error = %e, "cannot file into folder; using INBOX");
                let inbox = self.store.folder_by_name(account, "INBOX").await.map_err(|e| temporary(&e))?;
                inbox.map(|f| f.id).ok_or_else(|| Reply::new(451, (4, 3, 0), "the recipient has no INBOX"))
            }
        }
    }
}

#[async_trait]
impl crate::outbound::SenderNotifier for InboundBackend {
    async fn notify_sender(&self, sender: &str, report: Bytes) -> Result<(), String> {
        self.send_notification(sender, report).await.map_err(|r| format!("{r:?}"))
    }
}

fn temporary(e: &Error) -> Reply {
    if let Error::NoSpace(_) = e {
        // RFC 5321 4.2.2 452 insufficient system storage; RFC 3463 4.3.1
        // mail system full.
        tracing::error!(error = %e, "delivery refused: the store's disk is full");
        return Reply::new(452, (4, 3, 1), "insufficient system storage, try again later");
    }
    tracing::error!(error = %e, "local delivery failed");
    Reply::new(451, (4, 3, 0), "local error in processing, try again later")
}

fn refusal_reply(r: &Refusal) -> Reply {
    Reply::new(r.code, r.enhanced, r.text.clone())
}

/// Decoded header values: text as text, addresses as `name <addr>` lists,
/// anything else as its raw (unfolded) text.
fn summarize(raw: &Bytes) -> MessageSummary {
    let mut summary = MessageSummary { headers: Vec::new(), size: raw.len() as u64 };
    // Headers only: filters match on headers, and a full parse of hostile MIME
    // (deeply nested parts) costs stack and time the pipeline does not need.
    let Some(message) = mail_parser::MessageParser::default().parse_headers(raw.as_ref()) else { return summary };
    for h in message.headers() {
        let value = if let Some(t) = h.value().as_text() {
            t.to_owned()
        } else if let Some(list) = h.value().as_text_list() {
            list.join(", ")
        } else if let Some(addrs) = h.value().as_address() {
            addrs
                .iter()
                .map(|a| match (a.name(), a.address()) {
                    (Some(n), Some(ad)) => format!("{n} <{ad}>"),
                    (None, Some(ad)) => ad.to_owned(),
                    (Some(n), None) => n.to_owned(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            let (start, end) = (h.offset_start() as usize, h.offset_end() as usize);
            let bytes = raw.get(start..end).unwrap_or_default();
            String::from_utf8_lossy(bytes).split_whitespace().collect::<Vec<_>>().join(" ")
        };
        summary.headers.push((h.name().to_owned(), value));
    }
    summary
}

#[async_trait]
impl SmtpBackend for InboundBackend {
    fn max_message_size(&self, _session: &SessionInfo) -> u64 {
        self.max_message_size
    }

    async fn authenticate(&self, session: &SessionInfo, user: &str, password: &str) -> Result<Principal, Reply> {
        let principal = match self.directory.authenticate(user, password).await {
            Ok(p) => p,
            Err(axigen_core::directory::AuthError::InvalidCredentials) => {
                return Err(Reply::new(535, (5, 7, 8), "authentication credentials invalid"));
            }
            Err(axigen_core::directory::AuthError::Unavailable(e)) => return Err(temporary(&e)),
        };
        let settings = self.settings(principal.account).await?;
        if !settings.smtp_enabled.value {
            tracing::info!(session = %session.id, account = %principal.address, source = %settings.smtp_enabled.source,
                "submission refused: service.smtp is disabled");
            return Err(Reply::new(
                535,
                (5, 7, 8),
                format!("sending is disabled for this account ({})", settings.smtp_enabled.source),
            ));
        }
        Ok(principal)
    }

    async fn mail_from(&self, session: &SessionInfo, from: &ReversePath, params: &MailParams) -> Result<(), Reply> {
        if let Some(size) = params.size
            && size > self.max_message_size
        {
            return Err(Reply::new(
                552,
                (5, 3, 4),
                format!("message size exceeds the limit of {} bytes", self.max_message_size),
            ));
        }
        if session.role != Role::Submission {
            return Ok(());
        }
        let Some(principal) = &session.principal else {
            return Err(Reply::new(530, (5, 7, 0), "authentication required"));
        };
        let ReversePath::Mailbox(mailbox) = from else {
            return Err(Reply::new(553, (5, 7, 1), "a submission needs a sender address"));
        };
        let Ok(address) = Address::parse(mailbox) else {
            return Err(Reply::new(553, (5, 1, 7), "bad sender address syntax"));
        };
        if address == principal.address {
            return Ok(());
        }
        match self.directory.alias(&address).await {
            Ok(Some(alias)) if alias.account == principal.account => Ok(()),
            Ok(_) => Err(Reply::new(
                553,
                (5, 7, 1),
                format!("sender address <{address}> does not belong to the authenticated account"),
            )),
            Err(e) => Err(temporary(&e)),
        }
    }

    async fn rcpt_to(&self, session: &SessionInfo, envelope: &Envelope, to: &str) -> Result<Recipient, Reply> {
        // RFC 5321 4.5.1: the reserved mailbox, with no domain, is accepted
        // and means this host's postmaster.
        if to.eq_ignore_ascii_case("postmaster") {
            let account = self.server_postmaster().await?;
            return self.local_recipient(envelope, "postmaster".to_owned(), account).await;
        }
        let Ok(address) = Address::parse(to) else {
            return Err(Reply::new(501, (5, 1, 3), "bad recipient address syntax"));
        };
        let local = self.directory.is_local_domain(&address.domain).await.map_err(|e| temporary(&e))?;
        if !local {
            let allowed = match (&session.role, &session.principal) {
                (Role::Submission, Some(p)) => self.settings(p.account).await?.relay_allowed.value,
                _ => false,
            };
            if !allowed {
                return Err(Reply::new(550, (5, 7, 1), "relaying denied"));
            }
            return Ok(Recipient { address: address.to_string(), local: None });
        }
        let mut account = self.directory.resolve_recipient(&address).await.map_err(|e| temporary(&e))?;
        if account.is_none() && address.local.as_str().eq_ignore_ascii_case("postmaster") {
            // RFC 5321 4.5.1: postmaster is accepted at every hosted domain.
            account = self.directory.postmaster(&address.domain).await.map_err(|e| temporary(&e))?;
            if account.is_none() {
                tracing::warn!(session = %session.id, domain = %address.domain,
                    "the domain has no account to take its postmaster mail; the server's postmaster takes it");
                account = Some(self.server_postmaster().await?);
            }
        }
        let Some(account) = account else {
            return Err(Reply::new(550, (5, 1, 1), format!("no such mailbox: <{address}>")));
        };
        self.local_recipient(envelope, address.to_string(), account).await
    }

    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: Bytes) -> Reply {
        self.receive(session, envelope, message).await
    }
}

impl InboundBackend {
    /// The account that takes mail for a bare `postmaster`: the postmaster
    /// of the domain named by the server's host name (or its nearest hosted
    /// parent: `mx.example.com`, then `example.com`), else of the first
    /// hosted domain in name order. `452 4.3.0` when there is none yet (no
    /// domain or account), so that the sender tries again later.
    async fn server_postmaster(&self) -> Result<AccountId, Reply> {
        let mut candidates: Vec<DomainName> = Vec::new();
        let mut host = self.hostname.as_str();
        while host.contains('.') {
            if let Ok(d) = DomainName::new(host) {
                candidates.push(d);
            }
            host = host.split_once('.').map_or("", |(_, rest)| rest);
        }
        if let Some(first) = self.directory.first_domain().await.map_err(|e| temporary(&e))? {
            candidates.push(first);
        }
        for domain in candidates {
            if let Some(account) = self.directory.postmaster(&domain).await.map_err(|e| temporary(&e))? {
                return Ok(account);
            }
        }
        tracing::error!("no account can take postmaster mail: create a domain with an account");
        Err(Reply::new(452, (4, 3, 0), "no postmaster mailbox is set up yet; try again later"))
    }

    /// The checks of a local recipient once its account is known: the
    /// account's message size limit and quota.
    async fn local_recipient(
        &self,
        envelope: &Envelope,
        address: String,
        account: AccountId,
    ) -> Result<Recipient, Reply> {
        let settings = self.settings(account).await?;
        let limit = settings.max_message_size.value;
        if let Some(size) = envelope.params.size
            && limit > 0
            && size > limit
        {
            return Err(Reply::new(552, (5, 3, 4), format!("message too large for <{address}> (limit {limit} bytes)")));
        }
        let usage = self.store.quota_usage(account).await.map_err(|e| temporary(&e))?;
        let (max_bytes, max_messages) = (settings.quota_storage_bytes.value, settings.quota_messages.value);
        if (max_bytes > 0 && usage.bytes >= max_bytes) || (max_messages > 0 && usage.messages >= max_messages) {
            // RFC 3463 4.2.2 mailbox full; temporary at RCPT time (RFC 5321 4.5.3.1.10).
            return Err(Reply::new(452, (4, 2, 2), format!("mailbox of <{address}> is full")));
        }
        Ok(Recipient { address, local: Some(account) })
    }

    /// DATA for the accepted recipients: trace header, filters, local
    /// copies, the outbound queue, auto-replies and reports.
    async fn receive(&self, session: &SessionInfo, envelope: &Envelope, message: Bytes) -> Reply {
        let for_recipient = match envelope.recipients.as_slice() {
            [only] => Some(only.address.as_str()),
            _ => None,
        };
        let trace = Trace {
            helo: session.helo.as_deref(),
            peer: session.peer.ip(),
            by: &self.hostname,
            esmtp: session.esmtp,
            tls: session.tls,
            authenticated: session.principal.is_some(),
            utf8: envelope.params.smtputf8,
            id: &envelope.id,
            for_recipient,
            now: unix_now() as i64,
        };
        let header = received_header(&trace);
        let mut full = Vec::with_capacity(header.len() + message.len());
        full.extend_from_slice(header.as_bytes());
        full.extend_from_slice(&message);
        let content = Bytes::from(full);
        let summary = summarize(&content);
        let from = match &envelope.from {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => Some(m.as_str()),
        };
        let incoming = Incoming {
            envelope_from: from,
            peer: Some(session.peer.ip()),
            authenticated: session.principal.as_ref(),
            raw: &content,
            summary: &summary,
        };
        let mut verdicts: Vec<RecipientVerdict> = envelope
            .recipients
            .iter()
            .map(|r| RecipientVerdict {
                address: r.address.clone(),
                account: r.local,
                verdict: if r.local.is_some() { Verdict::Deliver { folder: "INBOX".into() } } else { Verdict::Relay },
            })
            .collect();
        self.run_filters(&incoming, &mut verdicts).await;

        if let Err(reply) = self.deliver_local(&content, &mut verdicts).await {
            return reply;
        }
        let local: Vec<(AccountId, String)> = verdicts
            .iter()
            .filter_map(|v| match (&v.verdict, v.account) {
                (Verdict::Deliver { .. }, Some(a)) => Some((a, v.address.clone())),
                _ => None,
            })
            .collect();
        self.apply_scheduling(from, &content, &local).await;
        let remote: Vec<String> =
            verdicts.iter().filter(|v| v.verdict == Verdict::Relay).map(|v| v.address.clone()).collect();
        let mut queue_id = None;
        if !remote.is_empty() {
            let outbound = OutboundMessage {
                message_id: envelope.id.clone(),
                from: from.unwrap_or("").to_owned(),
                recipients: remote,
                content: content.clone(),
            };
            match self.queue.enqueue(outbound).await {
                Ok(id) => queue_id = Some(id),
                Err(e) => return temporary(&e),
            }
        }

        self.send_auto_replies(session, from, &summary, &verdicts).await;

        let refused: Vec<&RecipientVerdict> =
            verdicts.iter().filter(|v| matches!(v.verdict, Verdict::Reject(_))).collect();
        for r in &refused {
            if let Verdict::Reject(why) = &r.verdict {
                tracing::info!(session = %session.id, message = %envelope.id, recipient = %r.address, reply = %why, "recipient refused at DATA");
            }
        }
        if !refused.is_empty() && refused.len() == verdicts.len() {
            // Nobody took it: the client gets the (first) reason and keeps the message.
            let Verdict::Reject(why) = &refused[0].verdict else { unreachable!("filtered on Reject") };
            return refusal_reply(why);
        }
        if !refused.is_empty() {
            // Some recipients took it. SMTP has one reply for DATA (RFC 5321
            // 3.3), so the others are reported to the sender by a delivery
            // status notification, unless the message is itself a bounce.
            tracing::warn!(session = %session.id, message = %envelope.id, refused = refused.len(), "message accepted for some recipients only");
            if let Some(sender) = from {
                // Texts first: the report borrows them.
                let reasons: Vec<(&str, (u8, u16, u16), String)> = refused
                    .iter()
                    .filter_map(|r| match &r.verdict {
                        Verdict::Reject(why) => Some((r.address.as_str(), why.enhanced, why.to_string())),
                        _ => None,
                    })
                    .collect();
                let now = unix_now() as i64;
                let report = crate::dsn::build(&crate::dsn::Report {
                    reporting_mta: &self.hostname,
                    sender,
                    original: &content,
                    arrival: now,
                    recipients: reasons
                        .iter()
                        .map(|(recipient, status, text)| crate::dsn::RecipientReport {
                            recipient,
                            action: crate::dsn::Action::Failed,
                            status: *status,
                            diagnostic: text,
                            remote_mta: None,
                        })
                        .collect(),
                    will_retry_until: None,
                    now,
                    id: &envelope.id,
                });
                // The accepted copies are already stored: failing here must not
                // make the client send them again, so the error is only logged.
                if self.send_notification(sender, Bytes::from(report)).await.is_err() {
                    tracing::error!(session = %session.id, %sender, "could not deliver the delivery status notification");
                }
            }
        }
        let stored = verdicts.len() - refused.len();
        tracing::info!(session = %session.id, message = %envelope.id, size = content.len(), recipients = stored,
            queued = ?queue_id.map(|q| q.0), "message accepted");
        Reply::new(250, (2, 0, 0), format!("OK, message {} accepted", envelope.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_headers_and_survive_hostile_nesting() {
        let raw = Bytes::from_static(
            b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nTo: Ann <ann@example.com>, bob@example.com\r\nList-Id: <x.y>\r\n\r\nbody\r\n",
        );
        let s = summarize(&raw);
        assert_eq!(s.header("subject").next(), Some("Grüße"));
        assert_eq!(s.header("TO").next(), Some("Ann <ann@example.com>, bob@example.com"));
        assert!(s.header("list-id").next().unwrap().contains("x.y"));

        // 60,000 nested message/rfc822 parts: a full MIME parse of this
        // overflows a tokio worker's stack; the summary reads headers only.
        let mut nested = Vec::new();
        for _ in 0..60_000 {
            nested.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        nested.extend_from_slice(b"Subject: inner\r\n\r\nx\r\n");
        let s = summarize(&Bytes::from(nested));
        assert_eq!(s.header("content-type").count(), 1);
    }
}
