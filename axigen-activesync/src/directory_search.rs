//! The directory as the device sees it: ResolveRecipients (MS-ASCMD
//! 2.2.1.15) and the lookups behind Search in the `GAL` store.
//!
//! The directory (`axigen_core::directory::Directory`) answers lookups by
//! address only (an account by its primary address, an alias by its own);
//! it has no way to list a domain's accounts. So:
//!
//! * **ResolveRecipients** resolves each `To` that is an address of a
//!   hosted domain (an account's primary address or an alias of it) to the
//!   account, with its display name and primary address (Type 1, a GAL
//!   entry); a bare name is taken as a local part of the user's own domain.
//!   Anything else (a remote address, an unknown mailbox, a partial name)
//!   is not resolved (Response Status 4). There are no personal contacts
//!   to resolve against. S/MIME certificates are not kept: a request for
//!   them (CertificateRetrieval 2 or 3) gets, for each recipient, a
//!   `Certificates` element with Status 7 (no valid certificate) and a
//!   count of 0. Availability (free/busy) and Picture are not offered and
//!   are left out of the answer.
//! * **GAL search** finds the account whose address is the query, or whose
//!   local part (or an alias's) in the user's own domain is the query: an
//!   exact match, not a prefix search, and never an account of another
//!   domain (the GAL is the organisation's, which here is the domain).

use axigen_core::model::{Account, Address};
use bytes::Bytes;
use hyper::Response;
use tracing::{info, warn};

use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.12: the ResolveRecipients status codes used here.
mod status {
    pub const SUCCESS: u16 = 1;
    /// Response: the recipient was not resolved (no match).
    pub const NOT_RESOLVED: u16 = 4;
    /// Top level: protocol error (an invalid parameter or too many To).
    pub const PROTOCOL: u16 = 5;
    /// Top level: a server error; the client should retry.
    pub const SERVER: u16 = 6;
    /// Certificates: the recipient has no valid S/MIME certificate.
    pub const NO_CERTIFICATE: u16 = 7;
}

/// MS-ASCMD 2.2.3.186.5: a recipient found in the GAL.
const TYPE_GAL: &str = "1";
/// The most `To` elements one request may hold (MS-ASCMD 2.2.3.183).
const MAX_TO: usize = 1000;
/// The longest `To` value (MS-ASCMD 2.2.3.183: 256 characters).
const MAX_TO_LEN: usize = 256;

/// The address inside `Name <address>`, or the text itself, trimmed.
pub(crate) fn bare_address(text: &str) -> &str {
    let text = text.trim();
    match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].trim(),
        _ => text.trim_matches(|c: char| c == '"' || c.is_whitespace()),
    }
}

/// What a device typed as an address: a full address, or a local part of
/// `domain` when it has no `@`.
pub(crate) fn typed_address(text: &str, domain: &str) -> Option<Address> {
    let text = bare_address(text);
    if text.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    if text.contains('@') { Address::parse(text).ok() } else { Address::parse(&format!("{text}@{domain}")).ok() }
}

/// The name an account shows: its display name, or its address.
pub(crate) fn shown_name(account: &Account) -> String {
    let name = account.display_name.trim();
    if name.is_empty() { account.address.to_string() } else { name.to_owned() }
}

impl ActiveSync {
    /// The account an address reaches: its own primary address or an alias.
    pub(crate) async fn account_for(&self, address: &Address) -> axigen_core::Result<Option<Account>> {
        if let Some(account) = self.directory.account_by_address(address).await? {
            return Ok(Some(account));
        }
        match self.directory.alias(address).await? {
            Some(alias) => self.directory.account(alias.account).await,
            None => Ok(None),
        }
    }

    /// GAL lookup: the account `query` names in the user's own domain
    /// (by address or local part, of the account or of an alias).
    pub(crate) async fn gal_lookup(&self, ctx: &Context, query: &str) -> axigen_core::Result<Vec<Account>> {
        let domain = &ctx.principal.address.domain;
        let Some(address) = typed_address(query, domain.as_str()) else { return Ok(Vec::new()) };
        if &address.domain != domain {
            return Ok(Vec::new());
        }
        Ok(self.account_for(&address).await?.filter(|a| &a.address.domain == domain).into_iter().collect())
    }

    /// The ResolveRecipients command.
    pub(crate) async fn resolve_recipients(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let Some(root) = root.filter(|r| r.is(CodePage::ResolveRecipients, "ResolveRecipients")) else {
            info!(account = %account, device = %device, "ResolveRecipients refused: not a ResolveRecipients request");
            return status_only(command, status::PROTOCOL);
        };
        let to: Vec<String> = root
            .children_named(CodePage::ResolveRecipients, "To")
            .map(|t| t.text().map(|s| s.trim().to_owned()).unwrap_or_default())
            .collect();
        let options = root.child(CodePage::ResolveRecipients, "Options");
        let retrieval = options
            .and_then(|o| o.child_text(CodePage::ResolveRecipients, "CertificateRetrieval"))
            .map(|c| c.trim().parse::<u8>().ok().filter(|c| (1..=3).contains(c)));
        let certificates = match retrieval {
            None => false,
            Some(Some(c)) => c != 1,
            Some(None) => {
                info!(account = %account, device = %device, "ResolveRecipients refused: invalid CertificateRetrieval");
                return status_only(command, status::PROTOCOL);
            }
        };
        if to.is_empty() || to.len() > MAX_TO || to.iter().any(|t| t.is_empty() || t.chars().count() > MAX_TO_LEN) {
            info!(account = %account, device = %device, count = to.len(), "ResolveRecipients refused: no To, too many, or one empty or too long");
            return status_only(command, status::PROTOCOL);
        }
        let domain = ctx.principal.address.domain.as_str().to_owned();
        let mut out = Element::new(CodePage::ResolveRecipients, "ResolveRecipients")
            .with_text_child("Status", status::SUCCESS.to_string());
        let mut resolved = 0usize;
        for name in &to {
            let found = match typed_address(name, &domain) {
                Some(address) => match self.account_for(&address).await {
                    Ok(found) => found,
                    Err(err) => {
                        warn!(account = %account, error = %err, "ResolveRecipients: directory failed");
                        return status_only(command, status::SERVER);
                    }
                },
                None => None,
            };
            let mut response =
                Element::new(CodePage::ResolveRecipients, "Response").with_text_child("To", name.clone());
            match found {
                Some(found) => {
                    resolved += 1;
                    let mut recipient = Element::new(CodePage::ResolveRecipients, "Recipient")
                        .with_text_child("Type", TYPE_GAL)
                        .with_text_child("DisplayName", shown_name(&found))
                        .with_text_child("EmailAddress", found.address.to_string());
                    if certificates {
                        recipient.push(
                            Element::new(CodePage::ResolveRecipients, "Certificates")
                                .with_text_child("Status", status::NO_CERTIFICATE.to_string())
                                .with_text_child("CertificateCount", "0"),
                        );
                    }
                    response = response
                        .with_text_child("Status", status::SUCCESS.to_string())
                        .with_text_child("RecipientCount", "1")
                        .with(recipient);
                }
                None => {
                    response = response
                        .with_text_child("Status", status::NOT_RESOLVED.to_string())
                        .with_text_child("RecipientCount", "0");
                }
            }
            out.push(response);
        }
        info!(account = %account, device = %device, asked = to.len(), resolved, certificates, "ResolveRecipients");
        wbxml_response(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_addresses() {
        assert_eq!(bare_address(" Ann Example <ann@example.com> "), "ann@example.com");
        assert_eq!(bare_address("\"ann@example.com\""), "ann@example.com");
        assert_eq!(typed_address("Ann <Ann@Example.com>", "x.org").unwrap().to_string(), "ann@example.com");
        assert_eq!(typed_address("ann", "example.com").unwrap().to_string(), "ann@example.com");
        assert!(typed_address("Ann Example", "example.com").is_none());
        assert!(typed_address("", "example.com").is_none());
        assert!(typed_address("a@@b", "example.com").is_none());
    }
}
