//! Settings `Oof` (MS-ASCMD 2.2.3.119): a device reads and sets the
//! account's out-of-office reply, which the SMTP delivery path then sends
//! (see `axigen_protocols::inbound` and [`axigen_core::autoreply`]).
//!
//! * **Get** answers the state (0 off, 1 on, 2 for a period with
//!   `StartTime`/`EndTime`) and one `OofMessage` per audience (internal,
//!   known external, unknown external) in the body type the device asked
//!   for: a reply kept as HTML is given as text when the device wants text,
//!   and the reverse.
//! * **Set** changes the state, and each audience named by an `OofMessage`;
//!   audiences not named keep their message (a device that only switches the
//!   reply off does not lose its text). A period needs both times, the end
//!   after the start; anything else is status 5 (invalid arguments) and
//!   changes nothing.

use axigen_core::autoreply::{AutoReply, OofMessage, OofState};
use tracing::{info, warn};

use crate::search::parse_eas_date;
use crate::service::{ActiveSync, Context};
use crate::sync::eas_date;
use crate::wbxml::{CodePage, Element};

use super::settings::{answer, status};

/// The three audiences: the marker element and the field of [`AutoReply`].
const AUDIENCES: [&str; 3] = ["AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown"];

fn slot<'a>(settings: &'a mut AutoReply, marker: &str) -> &'a mut Option<OofMessage> {
    match marker {
        "AppliesToInternal" => &mut settings.internal,
        "AppliesToExternalKnown" => &mut settings.external_known,
        _ => &mut settings.external_unknown,
    }
}

/// HTML for a plain-text reply: escaped, line breaks kept.
fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str("<html><body>");
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>\n");
        }
        crate::wbxml::escape_xml(line, &mut out);
    }
    out.push_str("</body></html>");
    out
}

/// Plain text of an HTML reply: tags dropped (a `<br>` or block end becomes
/// a line break), the common entities decoded.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim_start_matches('/').to_ascii_lowercase();
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if matches!(name, "br" | "p" | "div" | "li" | "tr") && !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.trim().to_owned()
}

/// One parsed `OofMessage` of a Set: its audience and what it says.
fn parse_message(e: &Element) -> Option<(&'static str, OofMessage)> {
    let marker = AUDIENCES.into_iter().find(|m| e.child(CodePage::Settings, m).is_some())?;
    let enabled = match e.child_text(CodePage::Settings, "Enabled").as_deref().map(str::trim) {
        Some("1") => true,
        Some("0") | None => false,
        Some(_) => return None,
    };
    let html = match e.child_text(CodePage::Settings, "BodyType").as_deref().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("html") => true,
        Some(t) if t.eq_ignore_ascii_case("text") => false,
        None => false,
        Some(_) => return None,
    };
    let text = e.child_text(CodePage::Settings, "ReplyMessage").map(|t| t.into_owned()).unwrap_or_default();
    Some((marker, OofMessage { enabled, text, html }))
}

/// Applies a Set to the current settings; `None` when it does not validate.
fn apply_set(mut settings: AutoReply, set: &Element) -> Option<AutoReply> {
    let state = set.child_text(CodePage::Settings, "OofState")?;
    settings.state = match state.trim() {
        "0" => OofState::Disabled,
        "1" => OofState::Enabled,
        "2" => {
            let start = parse_eas_date(&set.child_text(CodePage::Settings, "StartTime")?)?;
            let end = parse_eas_date(&set.child_text(CodePage::Settings, "EndTime")?)?;
            OofState::Scheduled { start, end }
        }
        _ => return None,
    };
    for e in set.elements().filter(|e| e.is(CodePage::Settings, "OofMessage")) {
        let (marker, message) = parse_message(e)?;
        *slot(&mut settings, marker) = Some(message);
    }
    settings.validate().ok()?;
    Some(settings)
}

/// The `Get` element for the settings, bodies in the requested type.
fn get_element(settings: &AutoReply, want_html: bool) -> Element {
    let state = match settings.state {
        OofState::Disabled => "0",
        OofState::Enabled => "1",
        OofState::Scheduled { .. } => "2",
    };
    let mut get = Element::new(CodePage::Settings, "Get").with_text_child("OofState", state);
    if let OofState::Scheduled { start, end } = settings.state {
        get.push(Element::new(CodePage::Settings, "StartTime").with_text(eas_date(start)));
        get.push(Element::new(CodePage::Settings, "EndTime").with_text(eas_date(end)));
    }
    let mut copy = settings.clone();
    for marker in AUDIENCES {
        let message = slot(&mut copy, marker).take().unwrap_or_default();
        let text = match (message.html, want_html) {
            (true, false) => html_to_text(&message.text),
            (false, true) if !message.text.is_empty() => text_to_html(&message.text),
            _ => message.text,
        };
        let mut e = Element::new(CodePage::Settings, "OofMessage").with(Element::new(CodePage::Settings, marker));
        e.push(Element::new(CodePage::Settings, "Enabled").with_text(if message.enabled { "1" } else { "0" }));
        e.push(Element::new(CodePage::Settings, "ReplyMessage").with_text(text));
        e.push(Element::new(CodePage::Settings, "BodyType").with_text(if want_html { "HTML" } else { "Text" }));
        get.push(e);
    }
    get
}

impl ActiveSync {
    /// Settings Oof, Get or Set.
    pub(crate) async fn oof(&self, ctx: &Context, get: Option<&Element>, set: Option<&Element>) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let Some(store) = &self.auto_reply else {
            info!(account = %account, device = %device, "Settings Oof refused: no out-of-office store configured");
            return answer("Oof", status::ACCESS_DENIED);
        };
        let current = match store.auto_reply(account).await {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                warn!(account = %account, error = %e, "Settings Oof: cannot read the settings");
                return answer("Oof", status::UNAVAILABLE);
            }
        };
        if let Some(get) = get {
            let want_html =
                get.child_text(CodePage::Settings, "BodyType").is_some_and(|t| t.trim().eq_ignore_ascii_case("html"));
            return answer("Oof", status::SUCCESS).with(get_element(&current, want_html));
        }
        let Some(set) = set else { return answer("Oof", status::PROTOCOL) };
        let Some(updated) = apply_set(current, set) else {
            info!(account = %account, device = %device, "Settings Oof Set refused: invalid state, times or message");
            return answer("Oof", status::INVALID_ARGUMENTS);
        };
        let summary = format!("{:?}", updated.state);
        match store.set_auto_reply(account, updated).await {
            Ok(()) => {
                info!(account = %account, device = %device, state = %summary, "Settings Oof stored");
                answer("Oof", status::SUCCESS)
            }
            Err(e) => {
                warn!(account = %account, error = %e, "Settings Oof: cannot store the settings");
                answer("Oof", status::UNAVAILABLE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(marker: &str, enabled: &str, text: &str, body: &str) -> Element {
        Element::new(CodePage::Settings, "OofMessage")
            .with(Element::new(CodePage::Settings, marker))
            .with_text_child("Enabled", enabled)
            .with_text_child("ReplyMessage", text)
            .with_text_child("BodyType", body)
    }

    #[test]
    fn set_keeps_unnamed_audiences_and_checks_periods() {
        let set = Element::new(CodePage::Settings, "Set")
            .with_text_child("OofState", "2")
            .with_text_child("StartTime", "2026-12-01T08:00:00.000Z")
            .with_text_child("EndTime", "2026-12-10T08:00:00.000Z")
            .with(message("AppliesToInternal", "1", "Away <until> the 10th", "Text"))
            .with(message("AppliesToExternalUnknown", "1", "<p>Away&nbsp;&amp; back<br>soon</p>", "HTML"));
        let s = apply_set(AutoReply::default(), &set).unwrap();
        assert!(matches!(s.state, OofState::Scheduled { start, end } if end - start == 9 * 86_400));
        assert_eq!(s.internal.as_ref().unwrap().text, "Away <until> the 10th");
        assert!(s.external_unknown.as_ref().unwrap().html);

        let off = Element::new(CodePage::Settings, "Set").with_text_child("OofState", "0");
        let s2 = apply_set(s.clone(), &off).unwrap();
        assert_eq!(s2.state, OofState::Disabled);
        assert_eq!(s2.internal, s.internal);

        for bad in [
            Element::new(CodePage::Settings, "Set").with_text_child("OofState", "2"),
            Element::new(CodePage::Settings, "Set").with_text_child("OofState", "7"),
            Element::new(CodePage::Settings, "Set")
                .with_text_child("OofState", "2")
                .with_text_child("StartTime", "2026-12-10T08:00:00.000Z")
                .with_text_child("EndTime", "2026-12-01T08:00:00.000Z"),
            Element::new(CodePage::Settings, "Set").with_text_child("OofState", "1").with(message(
                "AppliesToInternal",
                "yes",
                "x",
                "Text",
            )),
        ] {
            assert!(apply_set(AutoReply::default(), &bad).is_none(), "{bad:?}");
        }

        let get = get_element(&s, false);
        let texts: Vec<String> = get
            .elements()
            .filter(|e| e.is(CodePage::Settings, "OofMessage"))
            .map(|e| e.child_text(CodePage::Settings, "ReplyMessage").unwrap_or_default().into_owned())
            .collect();
        assert_eq!(texts, vec!["Away <until> the 10th".to_string(), String::new(), "Away & back\nsoon".into()]);
        assert_eq!(get.child_text(CodePage::Settings, "StartTime").as_deref(), Some("2026-12-01T08:00:00.000Z"));
        let html = get_element(&s, true);
        let first = html.elements().find(|e| e.is(CodePage::Settings, "OofMessage")).unwrap();
        assert_eq!(
            first.child_text(CodePage::Settings, "ReplyMessage").as_deref(),
            Some("<html><body>Away &lt;until&gt; the 10th</body></html>")
        );
    }
}
