//! The whole ActiveSync endpoint (`ActiveSync::handle`) on arbitrary
//! requests: every gate (authentication, request line, policy and licence,
//! device, remote wipe, provisioning, quarantine) and every command handler,
//! over the in-memory stores of `axigen_fuzz::memory` and a submission
//! backend that accepts mail. It must never panic, must answer every request
//! (Ping parks on a paused clock, so its heartbeat costs nothing; an answer
//! that never comes fails), and every answer is a valid HTTP response whose
//! WBXML body, when it has one, decodes with the crate's own decoder and has
//! the command's root element.
//!
//! Each input gets fresh stores and a fresh service (the login throttle and
//! the Ping loop detector run on the real clock, and a store that grows
//! from input to input would make crashes irreproducible); only the runtime
//! is built once.
//!
//! `ACTIVESYNC_DISPATCH_TRACE=1` prints every request and answer.
//!
//! Input (missing bytes count as 0):
//!
//! - byte 0, flags: bit 0 first provision the device (Provision phase 1
//!   and 2), list the folders (FolderSync 0) and start the Inbox (Sync 0),
//!   so that the request meets a provisioned device with sync state; bit 1
//!   the body is an element program (below) rather than raw bytes; bit 2 a
//!   base64 query rather than a plain one; bit 3 send the policy key the
//!   provisioning gave; bits 4-5 the credentials (valid, `DOMAIN\user`,
//!   wrong password, none); bit 6 `MS-ASAcceptMultiPart: T`; bit 7 an odd
//!   request line (byte 4).
//! - byte 1: the command (index into `Command::ALL`).
//! - byte 2: bits 0-2 the protocol version (`ProtocolVersion::ALL`, 5 none,
//!   6 an unknown one, 7 16.1); bits 3-4 the policy key when bit 3 of the
//!   flags is clear (none, `0`, a wrong number, not a number).
//! - byte 3: bits 0-2 the device's state after the setup (as it is,
//!   quarantined, blocked, remote wipe pending, account-only wipe pending,
//!   wipe sent, wipe acknowledged); bits 3-4 the account and licence
//!   (business edition with one ActiveSync seat, ActiveSync disabled by
//!   policy, office edition, enterprise edition); bit 5 the setup also
//!   loads the Inbox (Sync 1), so that it has nothing new.
//! - byte 4, the odd request line: bits 0-1 the method (POST, OPTIONS, GET,
//!   PUT), bits 2-3 the path (ActiveSync, Autodiscover, ActiveSync in lower
//!   case, another), bit 4 plain HTTP, bit 5 plain HTTP allowed.
//! - byte 5: n, then n bytes appended to the query (`&...` to a plain one,
//!   raw parameters to a base64 one).
//! - the rest: the body.
//!
//! An element program builds the body under the command's root element
//! (e.g. `Sync` on AirSync), one operation byte at a time: `00-7f` a child
//! on the parent's code page (the byte picks the tag), `80-9f` a child on
//! another page (the byte picks the page, the next one the tag), `a0-df` a
//! text from a vocabulary (sync keys, folder and item ids, addresses, a
//! MIME message, and the texts of the setup's answers), `e0-ef` a text of
//! the next `n` bytes (`ef`: the next byte is `n`), `f0-f7` opaque data of
//! the next byte's length, `f8-ff` closes the element. Elements open until
//! closed or until the input ends.

#![no_main]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axigen_activesync::request::RequestHeaders;
use axigen_activesync::wbxml::{self, CodePage, Element, Node, Tag, XmlStyle};
use axigen_activesync::{
    AUTODISCOVER_PATH, ActiveSync, ActiveSyncConfig, Command, EasRequest, HttpRequest, PATH, ProtocolVersion,
};
use axigen_core::devices::{DeviceAccess, DeviceStore, WipeState};
use axigen_core::license::{Edition, Feature, License, Licensing, MemorySeatStore, StaticLicenseProvider};
use axigen_core::model::Principal;
use axigen_core::settings::{Overrides, Setting};
use axigen_fuzz::memory::{ACCOUNT, Mem, MemDevices, PASSWORD, USER};
use axigen_protocols::smtp::{Envelope, MailParams, Recipient, Reply, ReversePath, SessionInfo, SmtpBackend};
use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response};
use libfuzzer_sys::fuzz_target;

const DEVICE_ID: &str = "FUZZDEV1";
const DEVICE_TYPE: &str = "FuzzPhone";
const POLICY_TYPE: &str = "MS-EAS-Provisioning-WBXML";
const WBXML: &str = "application/vnd.ms-sync.wbxml";

/// The longest any request may take on the paused clock: the longest Ping
/// heartbeat, the loop delay and the login throttle's delay fit many times.
const ANSWER_WITHIN: Duration = Duration::from_secs(6 * 3600);

const SETUP: u8 = 1;
const TREE: u8 = 2;
const BASE64: u8 = 4;
const KEY: u8 = 8;
const MULTIPART: u8 = 64;
const ODD: u8 = 128;

/// Texts an element program picks by index; the setup's answers follow.
const WORDS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "12",
    "1:1",
    "1:2",
    "1:3",
    "1:9",
    "3:1",
    "5:1",
    "1:2:0",
    "1:2:1",
    "u@example.com",
    "alias@example.com",
    "nobody@example.com",
    "someone@elsewhere.example",
    "nobody@nowhere.invalid",
    "U",
    "Email",
    "Calendar",
    "Mailbox",
    "GAL",
    "DocumentLibrary",
    POLICY_TYPE,
    "60",
    "480",
    "3540",
    "100",
    "0-9",
    "5-104",
    "2023-11-14T22:13:20.000Z",
    "2000-01-01T00:00:00.000Z",
    "Projects",
    "a",
    "body",
    "From: u@example.com\r\nTo: someone@elsewhere.example\r\nCc: U <u@example.com>\r\nSubject: hi\r\n\r\nhello\r\n",
    "To: nobody@nowhere.invalid\r\nBcc: u@example.com\r\n\r\nx\r\n",
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap())
}

/// Mail from devices: accepted, but for recipients in `.invalid`.
struct Submission;

#[async_trait]
impl SmtpBackend for Submission {
    fn max_message_size(&self, _session: &SessionInfo) -> u64 {
        1 << 20
    }
    async fn authenticate(&self, _session: &SessionInfo, _user: &str, _password: &str) -> Result<Principal, Reply> {
        Err(Reply::new(535, (5, 7, 8), "not here"))
    }
    async fn mail_from(&self, session: &SessionInfo, _from: &ReversePath, _params: &MailParams) -> Result<(), Reply> {
        assert_eq!(session.principal.as_ref().map(|p| p.account), Some(ACCOUNT));
        Ok(())
    }
    async fn rcpt_to(&self, _session: &SessionInfo, _envelope: &Envelope, to: &str) -> Result<Recipient, Reply> {
        if to.ends_with(".invalid") {
            Err(Reply::new(550, (5, 1, 1), "no such user"))
        } else {
            Ok(Recipient { address: to.to_owned(), local: None })
        }
    }
    async fn data(&self, _session: &SessionInfo, envelope: &Envelope, message: Bytes) -> Reply {
        assert!(!envelope.recipients.is_empty(), "a message with no recipient was submitted");
        assert!(!message.is_empty());
        Reply::new(250, (2, 0, 0), "queued")
    }
}

struct World {
    service: ActiveSync,
    devices: Arc<MemDevices>,
    /// Whether the account may use ActiveSync (the setup must then succeed).
    open: bool,
}

fn world(variant: u8, allow_plaintext: bool) -> World {
    let access = (variant >> 3) & 3;
    let mut settings = Overrides::default();
    settings.activesync_enabled = Setting::Explicit(access != 1);
    let mem = Arc::new(Mem::with_settings(settings));
    let edition = match access {
        2 => Edition::Office,
        3 => Edition::Enterprise,
        _ => Edition::Business,
    };
    let seats = if edition == Edition::Business { BTreeMap::from([(Feature::ActiveSync, 1)]) } else { BTreeMap::new() };
    let license = License {
        id: "fuzz".into(),
        licensee: "fuzz".into(),
        edition,
        issued_at: 0,
        expires_at: None,
        max_accounts: None,
        seats,
    };
    let licensing =
        Arc::new(Licensing::new(Arc::new(StaticLicenseProvider(Some(license))), Arc::new(MemorySeatStore::new())));
    let devices = Arc::new(MemDevices::default());
    let config = ActiveSyncConfig { allow_plaintext, hostname: "fuzz.example.com".into(), ..Default::default() };
    let service = ActiveSync::new(config, mem.clone(), mem.clone(), devices.clone(), licensing, mem.notifier.clone())
        .with_submission(Arc::new(Submission));
    World { service, devices, open: access != 1 && access != 2 }
}

/// The root element of a command's request and answer.
fn root_of(command: Command) -> Option<Tag> {
    CodePage::ALL.into_iter().find_map(|page| Tag::named(page, command.name()))
}

/// The command's code in a base64 query.
fn command_code(command: Command) -> u8 {
    (0..=u8::MAX).find(|&b| Command::from_code(b) == Some(command)).expect("every command has a code")
}

/// The version's byte in a base64 query.
fn version_byte(version: ProtocolVersion) -> u8 {
    (0..=u8::MAX).find(|&b| ProtocolVersion::from_byte(b) == Some(version)).expect("every version has a byte")
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// What varies between the requests of one input.
struct Line<'a> {
    method: Method,
    path: &'a str,
    tls: bool,
    command: Command,
    /// `None`: no header; `Some(Err)`: an unknown version.
    version: Option<Result<ProtocolVersion, &'static str>>,
    policy_key: Option<String>,
    authorization: Option<String>,
    base64: bool,
    multipart: bool,
    extra_query: &'a [u8],
}

impl Line<'_> {
    fn setup(command: Command, version: ProtocolVersion, policy_key: Option<u32>) -> Line<'static> {
        Line {
            method: Method::POST,
            path: PATH,
            tls: true,
            command,
            version: Some(Ok(version)),
            policy_key: policy_key.map(|k| k.to_string()),
            authorization: Some(basic(&format!("{USER}:{PASSWORD}"))),
            base64: false,
            multipart: false,
            extra_query: &[],
        }
    }

    fn request(&self, body: Vec<u8>) -> HttpRequest {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        if let Some(a) = &self.authorization {
            put("authorization", a);
        }
        match self.version {
            Some(Ok(v)) => put("ms-asprotocolversion", v.as_str()),
            Some(Err(v)) => put("ms-asprotocolversion", v),
            None => {}
        }
        if let Some(k) = &self.policy_key {
            put("x-ms-policykey", k);
        }
        if self.multipart {
            put("ms-asacceptmultipart", "T");
        }
        put("user-agent", "FuzzAgent/1.0");
        let query = if self.base64 {
            let mut raw = vec![
                match self.version {
                    Some(Ok(v)) => version_byte(v),
                    Some(Err(_)) => 25,
                    None => version_byte(ProtocolVersion::V16_1),
                },
                command_code(self.command),
                0x09,
                0x04,
                DEVICE_ID.len() as u8,
            ];
            raw.extend_from_slice(DEVICE_ID.as_bytes());
            match self.policy_key.as_deref().and_then(|k| k.parse::<u32>().ok()) {
                Some(k) => {
                    raw.push(4);
                    raw.extend_from_slice(&k.to_le_bytes());
                }
                None => raw.push(0),
            }
            raw.push(DEVICE_TYPE.len() as u8);
            raw.extend_from_slice(DEVICE_TYPE.as_bytes());
            raw.extend_from_slice(self.extra_query);
            base64::engine::general_purpose::STANDARD.encode(raw)
        } else {
            let mut q = format!(
                "Cmd={}&User=u%40example.com&DeviceId={DEVICE_ID}&DeviceType={DEVICE_TYPE}",
                self.command.name()
            );
            if !self.extra_query.is_empty() {
                q.push('&');
                q.push_str(&String::from_utf8_lossy(self.extra_query));
            }
            q
        };
        HttpRequest {
            method: self.method.clone(),
            path: self.path.to_owned(),
            query,
            headers,
            body: Bytes::from(body),
            peer: SocketAddr::from(([192, 0, 2, 1], 40000)),
            tls: self.tls,
        }
    }
}

/// Sends one request and checks the answer; its WBXML document, if any.
async fn send(service: &ActiveSync, line: &Line<'_>, body: Vec<u8>) -> Option<Element> {
    let request = line.request(body);
    let command = command_of(&request);
    let trace = trace().then(|| format!("{} {}?{} {:?}", request.method, request.path, request.query, request.headers));
    if let (Some(t), Ok(doc)) = (&trace, wbxml::decode(&request.body)) {
        eprintln!("> {t}\n  {}", wbxml::to_xml(&doc, XmlStyle::Plain));
    } else if let Some(t) = &trace {
        eprintln!("> {t}\n  {:?}", String::from_utf8_lossy(&request.body));
    }
    let response = tokio::time::timeout(ANSWER_WITHIN, service.handle(request))
        .await
        .unwrap_or_else(|_| panic!("no answer to {} within {ANSWER_WITHIN:?}", line.command.name()));
    let answer = check(&response, command);
    if trace.is_some() {
        let body = match &answer {
            Some(doc) => wbxml::to_xml(doc, XmlStyle::Plain),
            None => format!("{:?}", String::from_utf8_lossy(response.body())),
        };
        eprintln!("< {} {:?}\n  {body}", response.status(), response.headers());
    }
    answer
}

/// `ACTIVESYNC_DISPATCH_TRACE=1`: every request and answer on stderr (to
/// see what an input does when reproducing it).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ACTIVESYNC_DISPATCH_TRACE").is_some())
}

/// The command the endpoint reads from a request (the extra query may
/// name another than the line's); `None` when it reads none.
fn command_of(request: &HttpRequest) -> Option<Command> {
    if !ActiveSync::serves(&request.path) || request.path.eq_ignore_ascii_case(AUTODISCOVER_PATH) {
        return None;
    }
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let headers = RequestHeaders {
        protocol_version: header("MS-ASProtocolVersion"),
        policy_key: header("X-MS-PolicyKey"),
        accept_multipart: header("MS-ASAcceptMultiPart"),
    };
    EasRequest::parse(&request.query, headers).ok().map(|r| r.command)
}

fn check(response: &Response<Bytes>, command: Option<Command>) -> Option<Element> {
    let status = response.status().as_u16();
    assert!((200..600).contains(&status), "status {status}");
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().expect("an ASCII content type"));
    if content_type != Some(WBXML) {
        return None;
    }
    assert_eq!(status, 200, "a WBXML answer with status {status}");
    let command = command.expect("a WBXML answer to a request that names no command");
    let root = wbxml::decode(response.body()).unwrap_or_else(|err| {
        panic!("the answer to {} does not decode: {err}: {:02x?}", command.name(), response.body())
    });
    let expected = root_of(command).expect("a WBXML answer to a command without a root element");
    assert_eq!(root.tag, expected, "the answer to {} has another root", command.name());
    Some(root)
}

fn texts(element: &Element, out: &mut Vec<String>) {
    for child in &element.children {
        match child {
            Node::Element(e) => texts(e, out),
            Node::Text(t) if t.len() <= 64 && !out.contains(t) => out.push(t.clone()),
            _ => {}
        }
    }
}

fn encode(root: &Element) -> Vec<u8> {
    wbxml::encode(root).expect("a request the harness builds encodes")
}

fn text_child(page: CodePage, name: &str, text: &str) -> Element {
    Element::new(page, name).with_text(text)
}

/// Provision (both phases), FolderSync 0 and Sync 0 of the Inbox, and when
/// `complete` Sync 1 (the Inbox's first load): the final policy key and the
/// texts of the answers.
async fn setup(service: &ActiveSync, version: ProtocolVersion, complete: bool) -> (Option<u32>, Vec<String>) {
    let mut words = Vec::new();
    let policy = |key: Option<u32>| {
        let mut policy = Element::new(CodePage::Provision, "Policy").with_text_child("PolicyType", POLICY_TYPE);
        if let Some(k) = key {
            policy = policy.with_text_child("PolicyKey", k.to_string()).with_text_child("Status", "1");
        }
        Element::new(CodePage::Provision, "Provision").with(Element::new(CodePage::Provision, "Policies").with(policy))
    };
    let key_of = |answer: Option<Element>| {
        answer?
            .child(CodePage::Provision, "Policies")?
            .child(CodePage::Provision, "Policy")?
            .child_text(CodePage::Provision, "PolicyKey")?
            .parse::<u32>()
            .ok()
    };
    let temporary = key_of(send(service, &Line::setup(Command::Provision, version, None), encode(&policy(None))).await);
    let Some(temporary) = temporary else { return (None, words) };
    let line = Line::setup(Command::Provision, version, Some(temporary));
    let Some(key) = key_of(send(service, &line, encode(&policy(Some(temporary)))).await) else {
        return (None, words);
    };
    words.push(key.to_string());
    let folder_sync = Element::new(CodePage::FolderHierarchy, "FolderSync").with(text_child(
        CodePage::FolderHierarchy,
        "SyncKey",
        "0",
    ));
    if let Some(answer) =
        send(service, &Line::setup(Command::FolderSync, version, Some(key)), encode(&folder_sync)).await
    {
        texts(&answer, &mut words);
    }
    let collection = Element::new(CodePage::AirSync, "Collection")
        .with(text_child(CodePage::AirSync, "SyncKey", "0"))
        .with(text_child(CodePage::AirSync, "CollectionId", "1"));
    let sync =
        Element::new(CodePage::AirSync, "Sync").with(Element::new(CodePage::AirSync, "Collections").with(collection));
    if let Some(answer) = send(service, &Line::setup(Command::Sync, version, Some(key)), encode(&sync)).await {
        texts(&answer, &mut words);
    }
    if complete {
        let collection = Element::new(CodePage::AirSync, "Collection")
            .with(text_child(CodePage::AirSync, "SyncKey", "1"))
            .with(text_child(CodePage::AirSync, "CollectionId", "1"));
        let sync = Element::new(CodePage::AirSync, "Sync")
            .with(Element::new(CodePage::AirSync, "Collections").with(collection));
        if let Some(answer) = send(service, &Line::setup(Command::Sync, version, Some(key)), encode(&sync)).await {
            texts(&answer, &mut words);
        }
    }
    (Some(key), words)
}

/// Reads an element program (see the module documentation).
struct Program<'a> {
    input: &'a [u8],
    words: Vec<String>,
    nodes: usize,
}

const MAX_DEPTH: usize = 24;
const MAX_NODES: usize = 4096;

impl Program<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.input.split_first().unwrap_or((&0, &[]));
        self.input = rest;
        b
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.input.split_at(n.min(self.input.len()));
        self.input = rest;
        taken
    }

    fn children(&mut self, parent: &mut Element, depth: usize) {
        while !self.input.is_empty() && self.nodes < MAX_NODES {
            self.nodes += 1;
            let op = self.byte();
            let node = match op {
                0x00..=0x9f => {
                    let page = if op < 0x80 { parent.page() } else { CodePage::ALL[usize::from(op & 0x1f) % 26] };
                    let pick = if op < 0x80 { op } else { self.byte() };
                    let tags = page.tags();
                    let (token, _) = tags[usize::from(pick) % tags.len()];
                    let mut child = Element::from_tag(Tag::from_token(page, token).expect("a token of the page"));
                    if depth < MAX_DEPTH {
                        self.children(&mut child, depth + 1);
                    }
                    Node::Element(child)
                }
                0xa0..=0xdf => {
                    let i = usize::from(op & 0x3f);
                    let word = WORDS.get(i).map(|w| (*w).to_owned()).or_else(|| {
                        let dynamic = &self.words;
                        (!dynamic.is_empty()).then(|| dynamic[(i - WORDS.len()) % dynamic.len()].clone())
                    });
                    Node::Text(word.unwrap_or_else(|| WORDS[i % WORDS.len()].to_owned()))
                }
                0xe0..=0xef => {
                    let n = if op == 0xef { usize::from(self.byte()) } else { usize::from(op & 0x0f) };
                    Node::Text(String::from_utf8_lossy(self.bytes(n)).replace('\0', ""))
                }
                0xf0..=0xf7 => {
                    let n = usize::from(self.byte());
                    Node::Opaque(self.bytes(n).to_vec())
                }
                0xf8..=0xff => return,
            };
            parent.children.push(node);
        }
    }
}

fn run(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let (flags, variant, odd) = (byte(0), byte(3), if byte(0) & ODD != 0 { byte(4) } else { 0 });
    let command = Command::ALL[usize::from(byte(1)) % Command::ALL.len()];
    let version = match byte(2) & 7 {
        v @ 0..=4 => Some(Ok(ProtocolVersion::ALL[usize::from(v)])),
        5 => None,
        6 => Some(Err("2.5")),
        _ => Some(Ok(ProtocolVersion::V16_1)),
    };
    let extra_len = usize::from(byte(5));
    let rest = data.get(6..).unwrap_or_default();
    let (extra_query, body) = rest.split_at(extra_len.min(rest.len()));

    let World { service, devices, open } = world(variant, odd & 32 != 0);
    runtime().block_on(async {
        let (key, words) = if flags & SETUP != 0 {
            let setup_version = match version {
                Some(Ok(v)) => v,
                _ => ProtocolVersion::V16_1,
            };
            let (key, words) = setup(&service, setup_version, variant & 32 != 0).await;
            assert!(key.is_some() || !open, "the setup did not provision the device");
            (key, words)
        } else {
            (None, Vec::new())
        };
        let device_state = variant & 7;
        if device_state != 0 && device_state != 7 {
            let change = move |d: &mut axigen_core::devices::Device| match device_state {
                1 => d.access = DeviceAccess::Quarantined,
                2 => d.access = DeviceAccess::Blocked,
                3 => d.wipe = WipeState::Pending { account_only: false, requested_at: 1_700_000_000 },
                4 => d.wipe = WipeState::Pending { account_only: true, requested_at: 1_700_000_000 },
                5 => d.wipe = WipeState::Sent { account_only: false, sent_at: 1_700_000_000 },
                _ => d.wipe = WipeState::Acknowledged { account_only: false, at: 1_700_000_000 },
            };
            // No device yet when there was no setup: nothing to change.
            let _ = devices.update_device(ACCOUNT, DEVICE_ID, Box::new(change)).await;
        }
        let policy_key = if flags & KEY != 0 {
            Some(key.unwrap_or(1).to_string())
        } else {
            match (byte(2) >> 3) & 3 {
                0 => None,
                1 => Some("0".to_owned()),
                2 => Some("123456789".to_owned()),
                _ => Some("key".to_owned()),
            }
        };
        let authorization = match (flags >> 4) & 3 {
            0 => Some(basic(&format!("{USER}:{PASSWORD}"))),
            1 => Some(basic(&format!("EXAMPLE\\{USER}:{PASSWORD}"))),
            2 => Some(basic(&format!("{USER}:wrong"))),
            _ => None,
        };
        let line = Line {
            method: [Method::POST, Method::OPTIONS, Method::GET, Method::PUT][usize::from(odd & 3)].clone(),
            path: [PATH, AUTODISCOVER_PATH, "/microsoft-server-activesync", "/"][usize::from((odd >> 2) & 3)],
            tls: odd & 16 == 0,
            command,
            version,
            policy_key,
            authorization,
            base64: flags & BASE64 != 0,
            multipart: flags & MULTIPART != 0,
            extra_query,
        };
        let body = match root_of(command) {
            Some(tag) if flags & TREE != 0 => {
                let mut root = Element::from_tag(tag);
                Program { input: body, words, nodes: 0 }.children(&mut root, 1);
                // Text with NUL is dropped when read, and the depth is
                // bounded: whatever the program builds encodes.
                encode(&root)
            }
            _ => body.to_vec(),
        };
        send(&service, &line, body).await;
    });
}

fuzz_target!(|data: &[u8]| run(data));
