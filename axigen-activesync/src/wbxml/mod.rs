//! WBXML (WAP Binary XML 1.3) as Exchange ActiveSync uses it: the code pages
//! of MS-ASWBXML, a small element tree, a strict decoder, an encoder and an
//! XML rendering for logs and tests.
//!
//! ActiveSync documents use version 1.3, public identifier 1 ("unknown"),
//! charset 106 (UTF-8) and an empty string table; only tags, SWITCH_PAGE,
//! END, inline strings and opaque data appear. The decoder accepts exactly
//! that (plus string-table references, when a table is present) and turns
//! anything else into a [`WbxmlError`], which [`WbxmlError::eas_status`] maps
//! to the protocol's status code.

pub mod codepages;
mod decode;
mod encode;
mod tree;
mod xml;

#[cfg(test)]
mod tests;

pub use codepages::{CodePage, Tag};
pub use decode::{Limits, decode, decode_with_limits};
pub use encode::encode;
pub use tree::{Element, Node};
pub(crate) use xml::escape as escape_xml;
pub use xml::{XmlStyle, parse_xml, to_xml};

/// Why a WBXML document could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WbxmlError {
    /// The input ended inside the header, a token, a string or an element.
    #[error("WBXML input is truncated")]
    Truncated,
    /// The version byte is not 0x03 (WBXML 1.3).
    #[error("unsupported WBXML version byte {0:#04x}")]
    UnsupportedVersion(u8),
    /// The public identifier is neither 1 (unknown) nor a string-table entry.
    #[error("unsupported WBXML public identifier {0}")]
    UnsupportedPublicId(u32),
    /// The charset is not 106 (UTF-8).
    #[error("unsupported WBXML charset {0} (only UTF-8, 106, is accepted)")]
    UnsupportedCharset(u32),
    /// A multi-byte integer does not fit in 32 bits.
    #[error("WBXML multi-byte integer overflows 32 bits")]
    IntegerOverflow,
    /// SWITCH_PAGE to a page ActiveSync does not define.
    #[error("unknown WBXML code page {0}")]
    UnknownCodePage(u8),
    /// A tag token the current code page does not define.
    #[error("unknown tag token {token:#04x} on code page {page}")]
    UnknownTag {
        /// The code page in force.
        page: CodePage,
        /// The token, without the content/attribute bits.
        token: u8,
    },
    /// A global token ActiveSync does not use (ENTITY, LITERAL*, EXT*, PI).
    #[error("unsupported WBXML global token {0:#04x}")]
    UnsupportedToken(u8),
    /// A tag with the attribute bit set: ActiveSync has no attributes.
    #[error("WBXML attributes are not used by ActiveSync (tag {0:?})")]
    Attributes(Tag),
    /// END with no open element.
    #[error("unbalanced WBXML END token")]
    UnbalancedEnd,
    /// A string or opaque datum outside the root element.
    #[error("WBXML content outside the root element")]
    ContentOutsideRoot,
    /// The body holds no element.
    #[error("WBXML document has no root element")]
    MissingRoot,
    /// Bytes after the end of the root element.
    #[error("trailing data after the WBXML root element at offset {0}")]
    TrailingData(usize),
    /// Elements nested deeper than the limit.
    #[error("WBXML elements nested deeper than {0}")]
    TooDeep(usize),
    /// The document is larger than the limit.
    #[error("WBXML document larger than {0} bytes")]
    TooLarge(usize),
    /// More elements, strings and opaque data than the limit.
    #[error("WBXML document has more than {0} nodes")]
    TooManyNodes(usize),
    /// A string is not UTF-8.
    #[error("WBXML string is not valid UTF-8")]
    InvalidUtf8,
    /// A string-table reference outside the table, or to an unterminated
    /// string.
    #[error("WBXML string table reference {0} is out of range")]
    StringTableReference(u32),
    /// Encoding: text containing NUL, which an inline string cannot carry.
    #[error("text containing NUL cannot be encoded as a WBXML inline string")]
    NulInText,
    /// XML parsing (tests and tools): the XML text is malformed or names an
    /// element or namespace the code pages do not have.
    #[error("invalid XML at offset {offset}: {reason}")]
    Xml {
        /// Byte offset in the XML text.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

impl WbxmlError {
    /// The ActiveSync status code for a request body that failed to decode
    /// (MS-ASCMD common status 102, InvalidWBXML), or `None` for errors that
    /// only the server's own encoding or XML tooling can raise.
    pub fn eas_status(&self) -> Option<u16> {
        match self {
            WbxmlError::NulInText | WbxmlError::Xml { .. } => None,
            _ => Some(STATUS_INVALID_WBXML),
        }
    }
}

/// MS-ASCMD common status code 102, InvalidWBXML: the request contains
/// WBXML that could not be decoded into XML.
pub const STATUS_INVALID_WBXML: u16 = 102;
