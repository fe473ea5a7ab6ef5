//! XML text for element trees: a rendering for logs and tests, and a parser
//! for the simple XML (one default namespace per element, no other
//! attributes) that ActiveSync examples and libwbxml's tools use.

use super::WbxmlError;
use super::codepages::{CodePage, Tag};
use super::tree::{Element, Node};

/// How [`to_xml`] spells a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmlStyle {
    /// Namespaces as in the protocol documents (`xmlns="AirSync"`), no
    /// prolog.
    Plain,
    /// Exactly what `wbxml2xml -l ACTIVESYNC -m 0` (libwbxml) prints: XML
    /// declaration, ActiveSync DOCTYPE and namespaces with a trailing colon
    /// (`xmlns="AirSync:"`); the input `xml2wbxml` expects.
    Libwbxml,
}

const LIBWBXML_PROLOG: &str = "<?xml version=\"1.0\"?><!DOCTYPE ActiveSync PUBLIC \"-//MICROSOFT//DTD ActiveSync//EN\" \"http://www.microsoft.com/\">";

/// Renders `root` as XML on one line. An element carries `xmlns` when its
/// code page differs from its parent's; opaque data is written in base64.
pub fn to_xml(root: &Element, style: XmlStyle) -> String {
    let mut out = String::new();
    if style == XmlStyle::Libwbxml {
        out.push_str(LIBWBXML_PROLOG);
    }
    write_element(root, None, style, &mut out);
    out
}

fn write_element(element: &Element, parent: Option<CodePage>, style: XmlStyle, out: &mut String) {
    out.push('<');
    out.push_str(element.name());
    if parent != Some(element.page()) {
        out.push_str(" xmlns=\"");
        out.push_str(element.page().namespace());
        if style == XmlStyle::Libwbxml {
            out.push(':');
        }
        out.push('"');
    }
    if element.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for child in &element.children {
        match child {
            Node::Element(child) => write_element(child, Some(element.page()), style, out),
            Node::Text(text) => escape(text, out),
            Node::Opaque(data) => out.push_str(&base64(data)),
        }
    }
    out.push_str("</");
    out.push_str(element.name());
    out.push('>');
}

/// Appends `text` with the XML special characters escaped.
pub(crate) fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Parses XML whose elements all belong to the ActiveSync code pages. The
/// namespace comes from `xmlns` (with or without libwbxml's trailing colon)
/// and is inherited; an XML declaration, a DOCTYPE and comments are skipped;
/// whitespace-only text between elements is dropped (as `xml2wbxml` does
/// without `-k`); the five predefined entities and character references are
/// decoded. Opaque data cannot be expressed: all content becomes text.
pub fn parse_xml(xml: &str) -> Result<Element, WbxmlError> {
    let mut parser = Parser { xml, pos: 0 };
    parser.skip_misc()?;
    let root = parser.element(None, 1)?;
    parser.skip_misc()?;
    if parser.pos != xml.len() {
        return Err(parser.error("content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    xml: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> WbxmlError {
        WbxmlError::Xml { offset: self.pos, reason: reason.to_owned() }
    }

    fn rest(&self) -> &str {
        &self.xml[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.xml.len() - trimmed.len();
    }

    fn skip_past(&mut self, terminator: &str) -> Result<(), WbxmlError> {
        let at = self.rest().find(terminator).ok_or_else(|| self.error("unterminated markup"))?;
        self.pos += at + terminator.len();
        Ok(())
    }

    /// Skips whitespace, the XML declaration, DOCTYPE and comments.
    fn skip_misc(&mut self) -> Result<(), WbxmlError> {
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("<?") {
                self.skip_past("?>")?;
            } else if rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if rest.starts_with("<!DOCTYPE") {
                self.skip_past(">")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<&str, WbxmlError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.xml[start..start + len])
    }

    fn element(&mut self, inherited: Option<CodePage>, depth: usize) -> Result<Element, WbxmlError> {
        if depth > 64 {
            return Err(self.error("elements nested too deeply"));
        }
        if !self.rest().starts_with('<') {
            return Err(self.error("expected an element"));
        }
        self.pos += 1;
        let name = self.name()?.to_owned();
        let mut page = inherited;
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("/>") || rest.starts_with('>') {
                break;
            }
            let attribute = self.name()?.to_owned();
            if attribute != "xmlns" {
                return Err(self.error("only the xmlns attribute is supported"));
            }
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error("expected '='"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let quote = self
                .rest()
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| self.error("expected a quoted value"))?;
            self.pos += 1;
            let end = self.rest().find(quote).ok_or_else(|| self.error("unterminated attribute value"))?;
            let value = &self.xml[self.pos..self.pos + end];
            page = Some(CodePage::from_namespace(value).ok_or_else(|| self.error("unknown namespace"))?);
            self.pos += end + 1;
        }
        let page = page.ok_or_else(|| self.error("element without a namespace"))?;
        let tag = Tag::named(page, &name).ok_or_else(|| self.error("unknown element name"))?;
        let mut element = Element::from_tag(tag);
        if self.rest().starts_with("/>") {
            self.pos += 2;
            return Ok(element);
        }
        self.pos += 1;
        loop {
            let rest = self.rest();
            if rest.starts_with("</") {
                self.pos += 2;
                if self.name()? != name {
                    return Err(self.error("mismatched end tag"));
                }
                self.skip_whitespace();
                if !self.rest().starts_with('>') {
                    return Err(self.error("expected '>'"));
                }
                self.pos += 1;
                return Ok(element);
            } else if rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if rest.starts_with('<') {
                let child = self.element(Some(page), depth + 1)?;
                element.children.push(Node::Element(child));
            } else if rest.is_empty() {
                return Err(self.error("unterminated element"));
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let raw = &rest[..end];
                let text = self.unescape(raw)?;
                self.pos += end;
                if !text.trim().is_empty() {
                    element.children.push(Node::Text(text));
                }
            }
        }
    }

    fn unescape(&self, raw: &str) -> Result<String, WbxmlError> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let semi = rest[amp..].find(';').ok_or_else(|| self.error("unterminated entity"))?;
            let entity = &rest[amp + 1..amp + semi];
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(hex) = entity.strip_prefix("#x") {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(dec) = entity.strip_prefix('#') {
                        dec.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32).filter(|c| *c != '\0').ok_or_else(|| self.error("unknown entity"))?
                }
            };
            out.push(c);
            rest = &rest[amp + semi + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
