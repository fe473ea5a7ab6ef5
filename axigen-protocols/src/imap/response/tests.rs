//! Known answers of the response encoder.

use super::*;
use crate::imap::{MailboxName, StatusItem};

fn tag() -> Tag {
    Tag::new("A1").unwrap()
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn set(s: &str) -> SequenceSet {
    SequenceSet::parse(s).unwrap()
}

fn status(code: Code) -> String {
    let r = StatusResponse::tagged(tag(), Status::Ok, "done").with_code(code);
    String::from_utf8(r.to_bytes()).unwrap()
}

#[test]
fn status_responses() {
    assert_eq!(StatusResponse::tagged(tag(), Status::Ok, "LOGIN completed").to_bytes(), b"A1 OK LOGIN completed\r\n");
    assert_eq!(StatusResponse::untagged(Status::Bye, "bye").to_bytes(), b"* BYE bye\r\n");
    assert_eq!(StatusResponse::untagged(Status::PreAuth, "").to_bytes(), b"* PREAUTH completed\r\n");
    assert_eq!(
        StatusResponse::tagged(tag(), Status::Bad, "a\r\nA2 OK forged").to_bytes(),
        b"A1 BAD a  A2 OK forged\r\n"
    );
}

#[test]
fn response_codes() {
    let cases: Vec<(Code, &str)> = vec![
        (Code::Alert, "ALERT"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::AppendUid { uid_validity: nz(38505), uids: set("3955") }, "APPENDUID 38505 3955"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (Code::BadCharset(vec![]), "BADCHARSET"),
        (Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]), "BADCHARSET (UTF-8 US-ASCII)"),
        (Code::Cannot, "CANNOT"),
        (Code::Capability(vec!["IMAP4rev2".into(), "IDLE".into()]), "CAPABILITY IMAP4rev2 IDLE"),
        (Code::ClientBug, "CLIENTBUG"),
        (Code::Closed, "CLOSED"),
        (Code::ContactAdmin, "CONTACTADMIN"),
        (
            Code::CopyUid {
                uid_validity: nz(38505),
                source: SequenceSet::from_numbers_in_order([304, 319, 320]).unwrap(),
                destination: SequenceSet::from_numbers_in_order([3956, 3957, 3958]).unwrap(),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (Code::Corruption, "CORRUPTION"),
        (Code::Expired, "EXPIRED"),
        (Code::ExpungeIssued, "EXPUNGEISSUED"),
        (Code::HasChildren, "HASCHILDREN"),
        (Code::HighestModSeq(715194045007), "HIGHESTMODSEQ 715194045007"),
        (Code::InUse, "INUSE"),
        (Code::Limit, "LIMIT"),
        (Code::Modified(set("7,9")), "MODIFIED 7,9"),
        (Code::NoModSeq, "NOMODSEQ"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::NoPerm, "NOPERM"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::Parse, "PARSE"),
        (
            Code::PermanentFlags(vec![
                PermanentFlag::Flag(Flag::Deleted),
                PermanentFlag::Flag(Flag::Seen),
                PermanentFlag::Any,
            ]),
            "PERMANENTFLAGS (\\Deleted \\Seen \\*)",
        ),
        (Code::PermanentFlags(vec![]), "PERMANENTFLAGS ()"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::ReadOnly, "READ-ONLY"),
        (Code::ReadWrite, "READ-WRITE"),
        (Code::ServerBug, "SERVERBUG"),
        (Code::TooBig, "TOOBIG"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::UidNext(nz(4392)), "UIDNEXT 4392"),
        (Code::UidNotSticky, "UIDNOTSTICKY"),
        (Code::UidValidity(nz(3857529045)), "UIDVALIDITY 3857529045"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::UnknownCte, "UNKNOWN-CTE"),
        (Code::Unseen(nz(17)), "UNSEEN 17"),
        (Code::Other { name: Atom::new("X-FOO").unwrap(), text: Some("a]b".into()) }, "X-FOO a b"),
        (Code::Other { name: Atom::new("X-BAR").unwrap(), text: None }, "X-BAR"),
    ];
    for (code, wire) in cases {
        assert_eq!(status(code), format!("A1 OK [{wire}] done\r\n"));
    }
}

#[test]
fn continuation_requests() {
    let mut out = Vec::new();
    continuation(&mut out, "Ready for literal data");
    continuation_challenge(&mut out, b"");
    continuation_challenge(&mut out, b"\0ab");
    assert_eq!(out, b"+ Ready for literal data\r\n+ \r\n+ AGFi\r\n");
}

fn data(d: Data, utf8: bool) -> String {
    String::from_utf8(d.to_bytes(utf8)).unwrap()
}

#[test]
fn untagged_data() {
    let inbox = MailboxName::inbox();
    let drafts = MailboxName::new("Entwürfe").unwrap();
    assert_eq!(
        data(Data::Capability(vec!["IMAP4rev1".into(), "AUTH=PLAIN".into()]), false),
        "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
    );
    assert_eq!(data(Data::Enabled(vec!["QRESYNC".into()]), false), "* ENABLED QRESYNC\r\n");
    assert_eq!(data(Data::Enabled(vec![]), false), "* ENABLED\r\n");
    assert_eq!(data(Data::Flags(vec![Flag::Answered, Flag::Seen]), false), "* FLAGS (\\Answered \\Seen)\r\n");
    assert_eq!(data(Data::Exists(23), false), "* 23 EXISTS\r\n");
    assert_eq!(data(Data::Recent(0), false), "* 0 RECENT\r\n");
    assert_eq!(data(Data::Expunge(nz(3)), false), "* 3 EXPUNGE\r\n");
    let uids = SequenceSet::from_numbers([405, 406, 407, 408, 409, 410, 411, 4593]).unwrap();
    assert_eq!(
        data(Data::Vanished { earlier: true, uids: uids.clone() }, false),
        "* VANISHED (EARLIER) 405:411,4593\r\n"
    );
    assert_eq!(data(Data::Vanished { earlier: false, uids }, false), "* VANISHED 405:411,4593\r\n");
    let entry = |attrs: &[&str], delim: Option<char>, name: &str, child: bool| ListEntry {
        attributes: attrs.iter().map(|a| a.to_string()).collect(),
        delimiter: delim,
        mailbox: name.into(),
        child_subscribed: child,
    };
    assert_eq!(
        data(Data::List(entry(&["\\HasNoChildren", "\\Drafts"], Some('/'), "Entwürfe", false)), false),
        "* LIST (\\HasNoChildren \\Drafts) \"/\" Entw&APw-rfe\r\n"
    );
    assert_eq!(
        data(Data::List(entry(&["\\HasNoChildren"], Some('/'), "Entwürfe", false)), true),
        "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\"\r\n"
    );
    assert_eq!(
        data(Data::List(entry(&["\\Noselect"], Some('/'), "", false)), false),
        "* LIST (\\Noselect) \"/\" \"\"\r\n"
    );
    assert_eq!(data(Data::List(entry(&[], Some('"'), "a\"b", false)), false), "* LIST () \"\\\"\" \"a\\\"b\"\r\n");
    assert_eq!(
        data(Data::Lsub(entry(&[], None, "Foo Bar", true)), false),
        "* LSUB () NIL \"Foo Bar\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
    );
    assert_eq!(
        data(
            Data::Status {
                mailbox: drafts.clone(),
                items: vec![(StatusItem::Messages, 231), (StatusItem::UidNext, 44292)]
            },
            false
        ),
        "* STATUS Entw&APw-rfe (MESSAGES 231 UIDNEXT 44292)\r\n"
    );
    assert_eq!(data(Data::Search { numbers: vec![2, 84, 882], modseq: None }, false), "* SEARCH 2 84 882\r\n");
    assert_eq!(data(Data::Search { numbers: vec![], modseq: None }, false), "* SEARCH\r\n");
    assert_eq!(
        data(Data::Search { numbers: vec![2, 5], modseq: Some(917162500) }, false),
        "* SEARCH 2 5 (MODSEQ 917162500)\r\n"
    );
    assert_eq!(
        data(
            Data::ESearch {
                tag: Some(Tag::new("A282").unwrap()),
                uid: true,
                min: Some(2),
                max: Some(4),
                all: Some(SequenceSet::parse("2,4").unwrap()),
                count: Some(2),
                modseq: Some(917162500),
                partial: None,
                updates: Vec::new(),
            },
            false
        ),
        "* ESEARCH (TAG \"A282\") UID MIN 2 MAX 4 ALL 2,4 COUNT 2 MODSEQ 917162500\r\n"
    );
    assert_eq!(
        data(
            Data::ESearch {
                tag: Some(Tag::new("A1").unwrap()),
                uid: false,
                min: None,
                max: None,
                all: None,
                count: None,
                modseq: None,
                partial: None,
                updates: Vec::new(),
            },
            false
        ),
        "* ESEARCH (TAG \"A1\")\r\n"
    );
    // RFC 5267: PARTIAL, and the updates of a context in order.
    assert_eq!(
        data(
            Data::ESearch {
                tag: Some(Tag::new("B1").unwrap()),
                uid: true,
                min: None,
                max: None,
                all: None,
                count: None,
                modseq: None,
                partial: Some(((1, 6), SequenceSet::parse("5,3:4").ok())),
                updates: vec![
                    ContextUpdate::RemoveFrom(0, SequenceSet::parse("7").unwrap()),
                    ContextUpdate::AddTo(2, SequenceSet::parse("9").unwrap()),
                ],
            },
            false
        ),
        "* ESEARCH (TAG \"B1\") UID PARTIAL (1:6 5,3:4) REMOVEFROM (0 7) ADDTO (2 9)\r\n"
    );
    assert_eq!(
        data(
            Data::ESearch {
                tag: Some(Tag::new("B2").unwrap()),
                uid: false,
                min: None,
                max: None,
                all: None,
                count: None,
                modseq: None,
                partial: Some(((6, 6), None)),
                updates: Vec::new(),
            },
            false
        ),
        "* ESEARCH (TAG \"B2\") PARTIAL (6:6 NIL)\r\n"
    );
    assert_eq!(
        data(
            Data::Namespace {
                personal: vec![("".into(), Some('/'))],
                other: vec![("Other Users/".into(), Some('/'))],
                shared: vec![]
            },
            false
        ),
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) NIL\r\n"
    );
    assert_eq!(
        data(Data::Quota { root: "".into(), resources: vec![("STORAGE".into(), 10, 512)] }, false),
        "* QUOTA \"\" (STORAGE 10 512)\r\n"
    );
    assert_eq!(
        data(Data::QuotaRoot { mailbox: inbox.clone(), roots: vec!["".into()] }, false),
        "* QUOTAROOT INBOX \"\"\r\n"
    );
    assert_eq!(
        data(
            Data::Acl {
                mailbox: inbox.clone(),
                entries: vec![("Fred".into(), "rwipslxetad".into()), ("anyone".into(), "".into())]
            },
            false
        ),
        "* ACL INBOX Fred rwipslxetad anyone \"\"\r\n"
    );
    assert_eq!(
        data(
            Data::ListRights {
                mailbox: MailboxName::new("~/Mail/saved").unwrap(),
                identifier: "smith".into(),
                required: "la".into(),
                optional: vec!["r".into(), "swicdkxte".into()]
            },
            false
        ),
        "* LISTRIGHTS ~/Mail/saved smith la r swicdkxte\r\n"
    );
    assert_eq!(
        data(Data::MyRights { mailbox: inbox, rights: "rwiptsldaex".into() }, false),
        "* MYRIGHTS INBOX rwiptsldaex\r\n"
    );
    assert_eq!(data(Data::Id(None), false), "* ID NIL\r\n");
    assert_eq!(
        data(Data::Id(Some(vec![("name".into(), Some("axigen".into())), ("support-url".into(), None)])), false),
        "* ID (\"name\" \"axigen\" \"support-url\" NIL)\r\n"
    );
}

#[test]
fn parse_errors_map_to_responses() {
    use crate::imap::error::{CommandError, ErrorKind};
    let e = CommandError { tag: Some(tag()), kind: ErrorKind::LiteralTooBig { size: 10, max: 5, append: true } };
    assert_eq!(e.response().to_bytes(), b"A1 NO [TOOBIG] literal of 10 octets exceeds the limit of 5\r\n");
    let e = CommandError { tag: None, kind: ErrorKind::LineTooLong { max: 8192 } };
    assert_eq!(e.response().to_bytes(), b"* BAD [LIMIT] command line too long (limit 8192 octets)\r\n");
    let e = CommandError { tag: Some(tag()), kind: ErrorKind::UnknownCommand };
    assert_eq!(e.response().to_bytes(), b"A1 BAD unknown command\r\n");
}
