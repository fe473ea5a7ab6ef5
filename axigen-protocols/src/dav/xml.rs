//! WebDAV XML: request bodies read into a small element tree, and the
//! multistatus responses written.
//!
//! Request bodies are client input: a document type declaration is refused
//! (so no entity can be declared, let alone expanded), only the five
//! predefined entities and character references are resolved, and depth,
//! element count and text size are bounded. The caller bounds the body's
//! size before it gets here.

use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// `DAV:`
pub const DAV: &str = "DAV:";
/// CalDAV (RFC 4791).
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV (RFC 6352).
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Calendar Server extensions (`getctag`).
pub const CALSERVER: &str = "http://calendarserver.org/ns/";
/// Apple iCal extensions (`calendar-color`, `calendar-order`).
pub const APPLE: &str = "http://apple.com/ns/ical/";

/// Deepest element nesting accepted (a calendar-query with nested
/// comp-filters, prop-filters and param-filters needs about 10).
const MAX_DEPTH: usize = 32;
/// Most elements in one request (a multiget of a few thousand hrefs).
const MAX_ELEMENTS: usize = 50_000;

/// Why a body is not acceptable XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML request body: {0}")]
pub struct XmlError(pub String);

/// One element of a request body, with its namespace resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (empty when unbound).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes by local name (namespaced attributes are not used by
    /// WebDAV, CalDAV or CardDAV).
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// The text directly inside, concatenated.
    pub text: String,
}

impl Element {
    /// Whether this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses a request body into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| XmlError("not UTF-8".into()))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| XmlError(e.to_string()))?;
        let ns = match ns {
            ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(prefix) => {
                return Err(XmlError(format!("undeclared namespace prefix {prefix:?}")));
            }
        };
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError("content after the root element".into()));
                }
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError("too deeply nested or too many elements".into()));
                }
                let name = start.local_name().as_ref().to_owned();
                if name.is_empty() || name.contains(':') {
                    return Err(XmlError(format!("malformed element name {:?}", start.name().as_ref())));
                }
                let mut attrs = Vec::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| XmlError(e.to_string()))?;
                    let key = attr.key.local_name().as_ref().to_owned();
                    if attr.key.as_ref().starts_with("xmlns") {
                        continue;
                    }
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| XmlError(e.to_string()))?
                        .into_owned();
                    attrs.push((key, value));
                }
                stack.push(Element { ns, name, attrs, ..Default::default() });
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => append_text(&mut stack, &t.xml10_content())?,
            Event::CData(t) => append_text(&mut stack, &t)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| XmlError(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                append_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => return Err(XmlError("document type declarations are not accepted".into())),
            Event::Empty(_) => return Err(XmlError("unexpected empty element".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("the document ends inside an element".into()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn append_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(e) => {
            e.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError("text outside the root element".into())),
    }
}

/// Escapes text for an element's content or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // A carriage return would be read back as a line feed.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The prefix a response uses for a namespace it declares at its root.
pub fn prefix(ns: &str) -> Option<&'static str> {
    Some(match ns {
        DAV => "D",
        CALDAV => "C",
        CARDDAV => "CR",
        CALSERVER => "CS",
        APPLE => "A",
        _ => return None,
    })
}

/// Namespace declarations for a response's root element.
pub const ROOT_NAMESPACES: &str = concat!(
    " xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"",
    " xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\"",
    " xmlns:A=\"http://apple.com/ns/ical/\""
);

/// Writes `<name/>` or `<name>inner</name>` for a property of any
/// namespace (one not declared at the root gets its own declaration).
pub fn element(out: &mut String, ns: &str, name: &str, inner: Option<&str>) {
    let (open, close) = match prefix(ns) {
        Some(p) => (format!("{p}:{name}"), format!("{p}:{name}")),
        None if ns.is_empty() => (name.to_owned(), name.to_owned()),
        None => (format!("X:{name} xmlns:X=\"{}\"", escape(ns)), format!("X:{name}")),
    };
    match inner {
        None => {
            let _ = write!(out, "<{open}/>");
        }
        Some(inner) => {
            let _ = write!(out, "<{open}>{inner}</{close}>");
        }
    }
}

/// A `<D:error>` body naming one precondition (RFC 4918 16).
pub fn error_body(ns: &str, condition: &str, detail: Option<&str>) -> String {
    let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error{ROOT_NAMESPACES}>");
    element(&mut out, ns, condition, detail);
    out.push_str("</D:error>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_and_entities() {
        let body = br#"<?xml version="1.0" encoding="utf-8" ?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:prop-filter name="SUMMARY">
    <C:text-match collation="i;octet">a &amp; b &#233;<![CDATA[<x>]]></C:text-match>
  </C:prop-filter></C:comp-filter></C:filter>
</C:calendar-query>"#;
        let root = parse(body).unwrap();
        assert!(root.is(CALDAV, "calendar-query"));
        let prop = root.child(DAV, "prop").unwrap();
        assert_eq!(prop.children.len(), 2);
        assert!(prop.children[1].is(CALDAV, "calendar-data"));
        let tm = &root.child(CALDAV, "filter").unwrap().children[0].children[0].children[0];
        assert_eq!(tm.attr("collation"), Some("i;octet"));
        assert_eq!(tm.text, "a & b é<x>");
        // A default namespace, and no namespace.
        let root = parse(br#"<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#).unwrap();
        assert!(root.child(DAV, "prop").unwrap().child(DAV, "resourcetype").is_some());
        assert_eq!(parse(b"<a><b/></a>").unwrap().children[0].ns, "");
    }

    #[test]
    fn hostile_bodies_are_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>"#;
        for body in [
            &bomb[..],
            b"<a><b></a>",
            b"<a>",
            b"<a></a><b></b>",
            b"<p:a/>",
            b"<a>&unknown;</a>",
            b"<:a></:a>",
            b"<p:></p:>",
            b"",
            b"text",
            b"<a>\xff</a>",
        ] {
            assert!(parse(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(deep.as_bytes()).is_err());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert!(parse(wide.as_bytes()).is_err());
    }

    #[test]
    fn writing() {
        assert_eq!(escape("a<b>&\"c\"\r"), "a&lt;b&gt;&amp;&quot;c&quot;&#13;");
        let mut out = String::new();
        element(&mut out, DAV, "getetag", Some("&quot;x&quot;"));
        element(&mut out, "urn:other", "thing", None);
        assert_eq!(out, "<D:getetag>&quot;x&quot;</D:getetag><X:thing xmlns:X=\"urn:other\"/>");
        let body = error_body(CALDAV, "no-uid-conflict", Some("<D:href>/x</D:href>"));
        assert!(parse(body.as_bytes()).unwrap().child(CALDAV, "no-uid-conflict").is_some());
    }
}
