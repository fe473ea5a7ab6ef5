//! Autodiscover for mobile clients (MS-ASCMD 2.2.1.1): a phone set up with
//! an address and a password asks where its ActiveSync endpoint is.
//!
//! The request is the "POX" XML document with the mobilesync request
//! schema; the answer names this endpoint, on the host the client reached.
//! Only the authenticated account's own address is answered, so the
//! service reveals nothing about other addresses.

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tracing::info;

use crate::service::{ActiveSync, HttpRequest};

/// The path clients post to (case-insensitive).
pub const AUTODISCOVER_PATH: &str = "/autodiscover/autodiscover.xml";

const REQUEST_SCHEMA: &str = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006";
const RESPONSE_SCHEMA: &str = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";

/// The text of the first `<name>...</name>` element (namespace prefixes
/// allowed), unescaped; `None` when absent.
fn element_text(xml: &str, name: &str) -> Option<String> {
    let mut rest = xml;
    loop {
        let open = rest.find('<')?;
        rest = &rest[open + 1..];
        let end = rest.find('>')?;
        let tag = &rest[..end];
        let local = tag.split_whitespace().next().unwrap_or_default();
        let local = local.rsplit(':').next().unwrap_or(local);
        if local == name && !tag.ends_with('/') {
            let body = &rest[end + 1..];
            let close = body.find("</")?;
            return Some(unescape(body[..close].trim()));
        }
        rest = &rest[end + 1..];
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xml_response(body: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    r
}

/// An Autodiscover error document (MS-ASCMD 2.2.3.61: 600 invalid
/// request, 601 no provider for the requested schema).
fn error(code: u16, message: &str) -> Response<Bytes> {
    xml_response(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\
<Response xmlns=\"{RESPONSE_SCHEMA}\"><Error><ErrorCode>{code}</ErrorCode><Message>{}</Message><DebugData/></Error></Response></Autodiscover>",
        escape(message)
    ))
}

impl ActiveSync {
    /// Answers an Autodiscover request from an authenticated account.
    pub(crate) async fn autodiscover(
        &self,
        req: &HttpRequest,
        principal: &axigen_core::model::Principal,
    ) -> Response<Bytes> {
        let Ok(xml) = std::str::from_utf8(&req.body) else { return error(600, "Invalid Request") };
        if !xml.contains(REQUEST_SCHEMA) {
            return error(600, "Invalid Request");
        }
        if element_text(xml, "AcceptableResponseSchema").as_deref() != Some(RESPONSE_SCHEMA) {
            return error(601, "Provider is not available for the requested schema");
        }
        let Some(address) = element_text(xml, "EMailAddress") else { return error(600, "Invalid Request") };
        let own = principal.address.to_string();
        if !address.eq_ignore_ascii_case(&own) {
            info!(peer = %req.peer, account = %principal.account, asked = %address, "autodiscover for another address refused");
            return error(600, "Invalid Request");
        }
        let display = match self.directory.account(principal.account).await {
            Ok(Some(a)) if !a.display_name.is_empty() => a.display_name,
            _ => own.clone(),
        };
        // The endpoint on the host the client reached (the name it trusts).
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
            .map_or_else(|| self.config.hostname.clone(), str::to_owned);
        let url = format!("https://{host}{}", crate::PATH);
        info!(peer = %req.peer, account = %principal.account, url = %url, "autodiscover answered");
        xml_response(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\
<Response xmlns=\"{RESPONSE_SCHEMA}\"><Culture>en:us</Culture><User><DisplayName>{}</DisplayName><EMailAddress>{}</EMailAddress></User>\
<Action><Settings><Server><Type>MobileSync</Type><Url>{url}</Url><Name>{url}</Name></Server></Settings></Action></Response></Autodiscover>",
            escape(&display),
            escape(&own),
        ))
    }

    /// A refusal for a method other than POST.
    pub(crate) fn autodiscover_method(&self) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_request_document() {
        let xml = format!(
            "<?xml version=\"1.0\"?><Autodiscover xmlns=\"{REQUEST_SCHEMA}\"><Request>\
<EMailAddress>jane@example.com</EMailAddress><AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\
</Request></Autodiscover>"
        );
        assert_eq!(element_text(&xml, "EMailAddress").as_deref(), Some("jane@example.com"));
        assert_eq!(element_text(&xml, "AcceptableResponseSchema").as_deref(), Some(RESPONSE_SCHEMA));
        assert_eq!(element_text("<a:EMailAddress>x&amp;y</a:EMailAddress>", "EMailAddress").as_deref(), Some("x&y"));
        assert_eq!(element_text("<Request/>", "EMailAddress"), None);
        assert_eq!(escape("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
