//! The strict WBXML 1.3 decoder.

use super::WbxmlError;
use super::codepages::{CodePage, Tag};
use super::tree::{Element, Node};

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const STR_I: u8 = 0x03;
const STR_T: u8 = 0x83;
const OPAQUE: u8 = 0xC3;
const TAG_ATTRIBUTES: u8 = 0x80;
const TAG_CONTENT: u8 = 0x40;
const TAG_MASK: u8 = 0x3F;

const VERSION_1_3: u8 = 0x03;
const PUBLIC_ID_UNKNOWN: u32 = 0x01;
const PUBLIC_ID_IN_STRING_TABLE: u32 = 0x00;
const CHARSET_UTF8: u32 = 106;

/// Bounds the decoder enforces on its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_size: usize,
    /// Deepest accepted element nesting (the root is depth 1).
    pub max_depth: usize,
    /// Most elements, strings and opaque data in one document.
    pub max_nodes: usize,
}

impl Default for Limits {
    /// 32 MiB (a SendMail with attachments is one opaque MIME datum), 64
    /// levels (real documents use fewer than 12), one million nodes.
    fn default() -> Limits {
        Limits { max_size: 32 * 1024 * 1024, max_depth: 64, max_nodes: 1_000_000 }
    }
}

/// Decodes an ActiveSync WBXML document with the default [`Limits`].
pub fn decode(input: &[u8]) -> Result<Element, WbxmlError> {
    decode_with_limits(input, &Limits::default())
}

/// Decodes an ActiveSync WBXML document.
///
/// Every allocation is bounded by the input's length: lengths read from the
/// input are checked against the bytes that remain before anything is
/// reserved.
pub fn decode_with_limits(input: &[u8], limits: &Limits) -> Result<Element, WbxmlError> {
    if input.len() > limits.max_size {
        return Err(WbxmlError::TooLarge(limits.max_size));
    }
    let mut reader = Reader { input, pos: 0 };

    let version = reader.byte()?;
    if version != VERSION_1_3 {
        return Err(WbxmlError::UnsupportedVersion(version));
    }
    let public_id = reader.mb_u_int32()?;
    let public_id_index = match public_id {
        PUBLIC_ID_UNKNOWN => None,
        PUBLIC_ID_IN_STRING_TABLE => Some(reader.mb_u_int32()?),
        other => return Err(WbxmlError::UnsupportedPublicId(other)),
    };
    let charset = reader.mb_u_int32()?;
    if charset != CHARSET_UTF8 {
        return Err(WbxmlError::UnsupportedCharset(charset));
    }
    let table_len = reader.mb_u_int32()?;
    let table = reader.take(table_len)?;
    if let Some(index) = public_id_index {
        string_at(table, index)?;
    }

    let mut page = CodePage::AirSync;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;

    while root.is_none() {
        let token = reader
            .byte()
            .map_err(|_| if stack.is_empty() { WbxmlError::MissingRoot } else { WbxmlError::Truncated })?;
        match token {
            SWITCH_PAGE => {
                let number = reader.byte()?;
                page = CodePage::from_number(number).ok_or(WbxmlError::UnknownCodePage(number))?;
            }
            END => {
                let done = stack.pop().ok_or(WbxmlError::UnbalancedEnd)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            STR_I => {
                let text = utf8(reader.termstr()?)?;
                push_content(&mut stack, Node::Text(text), &mut nodes, limits)?;
            }
            STR_T => {
                let offset = reader.mb_u_int32()?;
                let text = utf8(string_at(table, offset)?)?;
                push_content(&mut stack, Node::Text(text), &mut nodes, limits)?;
            }
            OPAQUE => {
                let len = reader.mb_u_int32()?;
                let data = reader.take(len)?.to_vec();
                push_content(&mut stack, Node::Opaque(data), &mut nodes, limits)?;
            }
            _ if token & TAG_MASK < 0x05 => return Err(WbxmlError::UnsupportedToken(token)),
            _ => {
                let tag = Tag::from_token(page, token & TAG_MASK)
                    .ok_or(WbxmlError::UnknownTag { page, token: token & TAG_MASK })?;
                if token & TAG_ATTRIBUTES != 0 {
                    return Err(WbxmlError::Attributes(tag));
                }
                count_node(&mut nodes, limits)?;
                let element = Element::from_tag(tag);
                if token & TAG_CONTENT != 0 {
                    if stack.len() >= limits.max_depth {
                        return Err(WbxmlError::TooDeep(limits.max_depth));
                    }
                    stack.push(element);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(element)),
                        None => root = Some(element),
                    }
                }
            }
        }
    }
    if reader.pos != input.len() {
        return Err(WbxmlError::TrailingData(reader.pos));
    }
    root.ok_or(WbxmlError::MissingRoot)
}

fn count_node(nodes: &mut usize, limits: &Limits) -> Result<(), WbxmlError> {
    *nodes += 1;
    if *nodes > limits.max_nodes {
        return Err(WbxmlError::TooManyNodes(limits.max_nodes));
    }
    Ok(())
}

fn push_content(stack: &mut [Element], node: Node, nodes: &mut usize, limits: &Limits) -> Result<(), WbxmlError> {
    let parent = stack.last_mut().ok_or(WbxmlError::ContentOutsideRoot)?;
    count_node(nodes, limits)?;
    parent.children.push(node);
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<String, WbxmlError> {
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| WbxmlError::InvalidUtf8)
}

/// The NUL-terminated string at `offset` in the string table.
fn string_at(table: &[u8], offset: u32) -> Result<&[u8], WbxmlError> {
    let start = usize::try_from(offset).map_err(|_| WbxmlError::StringTableReference(offset))?;
    let rest = table.get(start..).filter(|rest| !rest.is_empty()).ok_or(WbxmlError::StringTableReference(offset))?;
    let end = rest.iter().position(|&b| b == 0).ok_or(WbxmlError::StringTableReference(offset))?;
    Ok(&rest[..end])
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, WbxmlError> {
        let b = *self.input.get(self.pos).ok_or(WbxmlError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// A WBXML mb_u_int32: big-endian groups of 7 bits, continuation in the
    /// high bit, at most 32 significant bits.
    fn mb_u_int32(&mut self) -> Result<u32, WbxmlError> {
        let mut value: u32 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            if value > (u32::MAX >> 7) {
                return Err(WbxmlError::IntegerOverflow);
            }
            value = (value << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WbxmlError::IntegerOverflow)
    }

    fn take(&mut self, len: u32) -> Result<&'a [u8], WbxmlError> {
        let len = usize::try_from(len).map_err(|_| WbxmlError::Truncated)?;
        let end = self.pos.checked_add(len).ok_or(WbxmlError::Truncated)?;
        let bytes = self.input.get(self.pos..end).ok_or(WbxmlError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn termstr(&mut self) -> Result<&'a [u8], WbxmlError> {
        let rest = &self.input[self.pos..];
        let len = rest.iter().position(|&b| b == 0).ok_or(WbxmlError::Truncated)?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }
}
