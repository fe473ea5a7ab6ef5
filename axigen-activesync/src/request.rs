//! The request line and headers of an ActiveSync request (MS-ASHTTP
//! 2.2.1.1): the command, the device, the protocol version and the policy
//! key, from a plain-text query (`Cmd=Sync&User=...&DeviceId=...`) or a
//! base64-encoded one (MS-ASHTTP 2.2.1.1.1.1).

use base64::Engine as _;
use thiserror::Error;

/// A protocol version the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 12.1
    V12_1,
    /// 14.0
    V14_0,
    /// 14.1
    V14_1,
    /// 16.0
    V16_0,
    /// 16.1
    V16_1,
}

impl ProtocolVersion {
    /// Every version, oldest first (the `MS-ASProtocolVersions` header).
    pub const ALL: [ProtocolVersion; 5] = [
        ProtocolVersion::V12_1,
        ProtocolVersion::V14_0,
        ProtocolVersion::V14_1,
        ProtocolVersion::V16_0,
        ProtocolVersion::V16_1,
    ];

    /// The version as written in headers, e.g. `16.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V12_1 => "12.1",
            ProtocolVersion::V14_0 => "14.0",
            ProtocolVersion::V14_1 => "14.1",
            ProtocolVersion::V16_0 => "16.0",
            ProtocolVersion::V16_1 => "16.1",
        }
    }

    /// Parses `16.1` and the like.
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }

    /// The base64 query's version byte: the version times ten (161 = 16.1).
    pub fn from_byte(b: u8) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL.into_iter().find(|v| v.byte() == b)
    }

    fn byte(self) -> u8 {
        match self {
            ProtocolVersion::V12_1 => 121,
            ProtocolVersion::V14_0 => 140,
            ProtocolVersion::V14_1 => 141,
            ProtocolVersion::V16_0 => 160,
            ProtocolVersion::V16_1 => 161,
        }
    }
}

macro_rules! commands {
    ($($variant:ident = $code:expr, $name:literal;)*) => {
        /// An ActiveSync command (MS-ASCMD), with its base64 command code
        /// (MS-ASHTTP 2.2.1.1.1.1.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Command {
            $(
                #[doc = $name]
                $variant,
            )*
        }

        impl Command {
            /// Every command (the `MS-ASProtocolCommands` header).
            pub const ALL: &'static [Command] = &[$(Command::$variant),*];

            /// The command's name as in `Cmd=`.
            pub fn name(self) -> &'static str {
                match self { $(Command::$variant => $name,)* }
            }

            /// The command of a `Cmd=` value (case-insensitive).
            pub fn from_name(name: &str) -> Option<Command> {
                match name {
                    $(n if n.eq_ignore_ascii_case($name) => Some(Command::$variant),)*
                    _ => None,
                }
            }

            /// The command of a base64 command code.
            pub fn from_code(code: u8) -> Option<Command> {
                match code {
                    $($code => Some(Command::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

commands! {
    Sync = 0, "Sync";
    SendMail = 1, "SendMail";
    SmartForward = 2, "SmartForward";
    SmartReply = 3, "SmartReply";
    GetAttachment = 4, "GetAttachment";
    FolderSync = 9, "FolderSync";
    FolderCreate = 10, "FolderCreate";
    FolderDelete = 11, "FolderDelete";
    FolderUpdate = 12, "FolderUpdate";
    MoveItems = 13, "MoveItems";
    GetItemEstimate = 14, "GetItemEstimate";
    MeetingResponse = 15, "MeetingResponse";
    Search = 16, "Search";
    Settings = 17, "Settings";
    Ping = 18, "Ping";
    ItemOperations = 19, "ItemOperations";
    Provision = 20, "Provision";
    ResolveRecipients = 21, "ResolveRecipients";
    ValidateCert = 22, "ValidateCert";
    Find = 23, "Find";
}

/// A refused request line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// No `Cmd`, or an unknown one.
    #[error("unknown or missing command")]
    Command,
    /// No `DeviceId`, or not 1 to 32 letters and digits (MS-ASHTTP 2.2.1.1.1.2.3).
    #[error("missing or invalid DeviceId")]
    DeviceId,
    /// No `DeviceType`, or longer than 32 characters.
    #[error("missing or invalid DeviceType")]
    DeviceType,
    /// A protocol version the server does not speak.
    #[error("unsupported protocol version")]
    Version,
    /// A base64 query that does not decode or is cut short.
    #[error("malformed base64 query: {0}")]
    Base64(&'static str),
    /// A policy key that is not a number.
    #[error("invalid policy key")]
    PolicyKey,
}

/// What the request line and headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EasRequest {
    /// The command.
    pub command: Command,
    /// The `User` parameter (informational: the account is the authenticated one).
    pub user: Option<String>,
    /// The device.
    pub device_id: String,
    /// The kind of device.
    pub device_type: String,
    /// The protocol version; `None` when the client did not say.
    pub version: Option<ProtocolVersion>,
    /// The policy key the client holds (header, base64 field or `PolicyKey` parameter).
    pub policy_key: Option<u32>,
    /// `AttachmentName` (GetAttachment).
    pub attachment_name: Option<String>,
    /// `CollectionId` (SmartForward, SmartReply).
    pub collection_id: Option<String>,
    /// `ItemId` (SmartForward, SmartReply).
    pub item_id: Option<String>,
    /// `LongId` (SmartForward, SmartReply).
    pub long_id: Option<String>,
    /// `Occurrence` (SmartForward, SmartReply).
    pub occurrence: Option<String>,
    /// `SaveInSent=T` or the base64 option flag.
    pub save_in_sent: bool,
    /// `MS-ASAcceptMultiPart: T` or the base64 option flag.
    pub accept_multipart: bool,
}

/// The headers a request line is read with.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHeaders<'a> {
    /// `MS-ASProtocolVersion`.
    pub protocol_version: Option<&'a str>,
    /// `X-MS-PolicyKey`.
    pub policy_key: Option<&'a str>,
    /// `MS-ASAcceptMultiPart`.
    pub accept_multipart: Option<&'a str>,
}

fn valid_device_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_device_type(t: &str) -> bool {
    (1..=32).contains(&t.len()) && t.chars().all(|c| !c.is_control())
}

fn policy_key(s: &str) -> Result<u32, RequestError> {
    s.trim().parse().map_err(|_| RequestError::PolicyKey)
}

/// `%XX` and `+` decoded (application/x-www-form-urlencoded); invalid
/// escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl EasRequest {
    /// Reads the query (the part of the URI after `?`) and headers.
    pub fn parse(query: &str, headers: RequestHeaders<'_>) -> Result<EasRequest, RequestError> {
        if query.contains('=') { Self::parse_plain(query, headers) } else { Self::parse_base64(query, headers) }
    }

    /// The plain-text form (MS-ASHTTP 2.2.1.1.1.2).
    fn parse_plain(query: &str, headers: RequestHeaders<'_>) -> Result<EasRequest, RequestError> {
        let mut command = None;
        let mut request = EasRequest {
            command: Command::Sync,
            user: None,
            device_id: String::new(),
            device_type: String::new(),
            version: None,
            policy_key: None,
            attachment_name: None,
            collection_id: None,
            item_id: None,
            long_id: None,
            occurrence: None,
            save_in_sent: false,
            accept_multipart: headers.accept_multipart.is_some_and(|v| v.trim().eq_ignore_ascii_case("T")),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match name {
                "Cmd" => command = Command::from_name(&value),
                "User" => request.user = Some(value),
                "DeviceId" => request.device_id = value,
                "DeviceType" => request.device_type = value,
                "AttachmentName" => request.attachment_name = Some(value),
                "CollectionId" => request.collection_id = Some(value),
                "ItemId" => request.item_id = Some(value),
                "LongId" => request.long_id = Some(value),
                "Occurrence" => request.occurrence = Some(value),
                "SaveInSent" => request.save_in_sent = value.eq_ignore_ascii_case("T"),
                // Some clients send the acknowledged key here as well.
                "PolicyKey" if !value.is_empty() => request.policy_key = Some(policy_key(&value)?),
                _ => {}
            }
        }
        request.command = command.ok_or(RequestError::Command)?;
        if let Some(v) = headers.protocol_version {
            request.version = Some(ProtocolVersion::parse(v).ok_or(RequestError::Version)?);
        }
        if let Some(k) = headers.policy_key.filter(|k| !k.trim().is_empty()) {
            request.policy_key = Some(policy_key(k)?);
        }
        request.check()
    }

    /// The base64 form (MS-ASHTTP 2.2.1.1.1.1): version, command code,
    /// locale, device id, policy key, device type, then tagged parameters.
    fn parse_base64(query: &str, headers: RequestHeaders<'_>) -> Result<EasRequest, RequestError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(percent_decode(query).trim())
            .map_err(|_| RequestError::Base64("not base64"))?;
        let mut r = Reader { raw: &raw, at: 0 };
        let version = ProtocolVersion::from_byte(r.byte()?).ok_or(RequestError::Version)?;
        let command = Command::from_code(r.byte()?).ok_or(RequestError::Command)?;
        let _locale = r.take(2)?;
        let device_id = r.string()?;
        let key_len = r.byte()?;
        let policy_key = match key_len {
            0 => None,
            4 => Some(u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| RequestError::Base64("policy key"))?)),
            _ => return Err(RequestError::Base64("policy key length")),
        };
        let device_type = r.string()?;
        let mut request = EasRequest {
            command,
            user: None,
            device_id,
            device_type,
            version: Some(version),
            policy_key: policy_key.filter(|k| *k != 0),
            attachment_name: None,
            collection_id: None,
            item_id: None,
            long_id: None,
            occurrence: None,
            save_in_sent: false,
            accept_multipart: headers.accept_multipart.is_some_and(|v| v.trim().eq_ignore_ascii_case("T")),
        };
        while r.at < raw.len() {
            let tag = r.byte()?;
            let value = r.take_sized()?;
            let text = || String::from_utf8_lossy(value).into_owned();
            match tag {
                0 => request.attachment_name = Some(text()),
                1 => request.collection_id = Some(text()),
                3 => request.item_id = Some(text()),
                4 => request.long_id = Some(text()),
                6 => request.occurrence = Some(text()),
                7 => {
                    let flags = value.first().copied().unwrap_or(0);
                    request.save_in_sent = flags & 0x01 != 0;
                    request.accept_multipart |= flags & 0x02 != 0;
                }
                8 => request.user = Some(text()),
                _ => return Err(RequestError::Base64("unknown parameter tag")),
            }
        }
        request.check()
    }

    fn check(self) -> Result<EasRequest, RequestError> {
        if !valid_device_id(&self.device_id) {
            return Err(RequestError::DeviceId);
        }
        if !valid_device_type(&self.device_type) {
            return Err(RequestError::DeviceType);
        }
        Ok(self)
    }
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, RequestError> {
        let b = *self.raw.get(self.at).ok_or(RequestError::Base64("cut short"))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RequestError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.raw.len()).ok_or(RequestError::Base64("cut short"))?;
        let out = &self.raw[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn take_sized(&mut self) -> Result<&'a [u8], RequestError> {
        let n = self.byte()?;
        self.take(usize::from(n))
    }

    fn string(&mut self) -> Result<String, RequestError> {
        let b = self.take_sized()?;
        String::from_utf8(b.to_vec()).map_err(|_| RequestError::Base64("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_query_with_headers() {
        let headers =
            RequestHeaders { protocol_version: Some("16.1"), policy_key: Some("3942919513"), ..Default::default() };
        let r = EasRequest::parse(
            "Cmd=Sync&User=jane%40example.com&DeviceId=Appl12345&DeviceType=iPhone&SaveInSent=T",
            headers,
        )
        .unwrap();
        assert_eq!(r.command, Command::Sync);
        assert_eq!(r.user.as_deref(), Some("jane@example.com"));
        assert_eq!((r.device_id.as_str(), r.device_type.as_str()), ("Appl12345", "iPhone"));
        assert_eq!(r.version, Some(ProtocolVersion::V16_1));
        assert_eq!(r.policy_key, Some(3942919513));
        assert!(r.save_in_sent);
    }

    #[test]
    fn policy_key_parameter_is_accepted() {
        let r = EasRequest::parse("Cmd=Provision&DeviceId=d1&DeviceType=t&PolicyKey=77", RequestHeaders::default())
            .unwrap();
        assert_eq!(r.policy_key, Some(77));
    }

    #[test]
    fn the_specification_example_in_base64() {
        // MS-ASHTTP 2.2.1.1.1.1: Sync, 14.0, locale 0x0409, "v140Device", "SmartPhone".
        let r = EasRequest::parse("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", RequestHeaders::default()).unwrap();
        assert_eq!(r.command, Command::Sync);
        assert_eq!(r.version, Some(ProtocolVersion::V14_0));
        assert_eq!((r.device_id.as_str(), r.device_type.as_str()), ("v140Device", "SmartPhone"));
        assert_eq!(r.policy_key, None);
    }

    #[test]
    fn base64_with_policy_key_and_parameters() {
        let mut raw = vec![161, 3, 0x09, 0x04, 2, b'd', b'1', 4];
        raw.extend_from_slice(&1234u32.to_le_bytes());
        raw.extend_from_slice(&[3, b'P', b'h', b'n']);
        raw.extend_from_slice(&[1, 1, b'5', 3, 3, b'5', b':', b'9', 7, 1, 0x03, 8, 1, b'u']);
        let q = base64::engine::general_purpose::STANDARD.encode(&raw);
        let r = EasRequest::parse(&q, RequestHeaders::default()).unwrap();
        assert_eq!(r.command, Command::SmartReply);
        assert_eq!(r.version, Some(ProtocolVersion::V16_1));
        assert_eq!(r.policy_key, Some(1234));
        assert_eq!(r.collection_id.as_deref(), Some("5"));
        assert_eq!(r.item_id.as_deref(), Some("5:9"));
        assert!(r.save_in_sent && r.accept_multipart);
        assert_eq!(r.user.as_deref(), Some("u"));
        // Cut short at every length: never a panic; an error while the
        // fixed fields (16 bytes here) are incomplete or a parameter is cut.
        for n in 0..raw.len() {
            let q = base64::engine::general_purpose::STANDARD.encode(&raw[..n]);
            let parsed = EasRequest::parse(&q, RequestHeaders::default());
            if n < 16 || [17, 18, 20, 21, 22, 23, 25, 26, 28, 29].contains(&n) {
                assert!(parsed.is_err(), "{n}");
            }
        }
    }

    #[test]
    fn refusals() {
        let h = RequestHeaders::default();
        assert_eq!(EasRequest::parse("Cmd=Nope&DeviceId=a&DeviceType=b", h), Err(RequestError::Command));
        assert_eq!(EasRequest::parse("Cmd=Sync&DeviceType=b", h), Err(RequestError::DeviceId));
        assert_eq!(EasRequest::parse("Cmd=Sync&DeviceId=a-b&DeviceType=b", h), Err(RequestError::DeviceId));
        assert_eq!(
            EasRequest::parse(&format!("Cmd=Sync&DeviceId={}&DeviceType=b", "a".repeat(33)), h),
            Err(RequestError::DeviceId)
        );
        assert_eq!(EasRequest::parse("Cmd=Sync&DeviceId=a", h), Err(RequestError::DeviceType));
        let old = RequestHeaders { protocol_version: Some("2.5"), ..Default::default() };
        assert_eq!(EasRequest::parse("Cmd=Sync&DeviceId=a&DeviceType=b", old), Err(RequestError::Version));
        assert!(matches!(EasRequest::parse("!!!", h), Err(RequestError::Base64(_))));
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz+b"), "A%zz b");
    }
}
