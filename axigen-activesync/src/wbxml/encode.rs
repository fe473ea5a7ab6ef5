//! The WBXML 1.3 encoder.

use super::WbxmlError;
use super::codepages::CodePage;
use super::decode::Limits;
use super::tree::{Element, Node};

/// The header ActiveSync uses: version 1.3, public identifier 1 (unknown),
/// charset 106 (UTF-8), empty string table.
const HEADER: [u8; 4] = [0x03, 0x01, 0x6A, 0x00];

/// Encodes `root` as an ActiveSync WBXML document. SWITCH_PAGE is written
/// only when the page changes, text as inline strings, opaque data as
/// OPAQUE. The result always decodes back to an equal tree.
pub fn encode(root: &Element) -> Result<Vec<u8>, WbxmlError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&HEADER);
    let mut page = CodePage::AirSync;
    let max_depth = Limits::default().max_depth;
    write_element(root, &mut out, &mut page, 1, max_depth)?;
    Ok(out)
}

fn write_element(
    element: &Element,
    out: &mut Vec<u8>,
    page: &mut CodePage,
    depth: usize,
    max_depth: usize,
) -> Result<(), WbxmlError> {
    let tag = element.tag;
    if tag.page() != *page {
        out.push(0x00);
        out.push(tag.page().number());
        *page = tag.page();
    }
    if element.children.is_empty() {
        out.push(tag.token());
        return Ok(());
    }
    if depth > max_depth {
        // The decoder would refuse what we wrote.
        return Err(WbxmlError::TooDeep(max_depth));
    }
    out.push(tag.token() | 0x40);
    for child in &element.children {
        match child {
            Node::Element(child) => write_element(child, out, page, depth + 1, max_depth)?,
            Node::Text(text) => {
                if text.as_bytes().contains(&0) {
                    return Err(WbxmlError::NulInText);
                }
                out.push(0x03);
                out.extend_from_slice(text.as_bytes());
                out.push(0x00);
            }
            Node::Opaque(data) => {
                let len = u32::try_from(data.len()).map_err(|_| WbxmlError::TooLarge(u32::MAX as usize))?;
                out.push(0xC3);
                write_mb_u_int32(out, len);
                out.extend_from_slice(data);
            }
        }
    }
    out.push(0x01);
    Ok(())
}

/// Writes `value` as a WBXML mb_u_int32 (shortest form).
pub(super) fn write_mb_u_int32(out: &mut Vec<u8>, value: u32) {
    let mut groups = [0u8; 5];
    let mut n = 0;
    let mut v = value;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let continuation = if i == 0 { 0 } else { 0x80 };
        out.push(groups[i] | continuation);
    }
}
