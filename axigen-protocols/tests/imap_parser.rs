//! Known-answer tests of the IMAP command parser: bytes -> command and, for
//! canonical lines, command -> the same bytes; forms real clients send;
//! and the errors, with the tag they carry.

/// In a module named `imap` so that `cargo test -p axigen-protocols imap` runs these.
mod imap {
    use std::num::{NonZeroU32, NonZeroU64};

    use axigen_protocols::imap::command::{QResync, Rights, RightsChange, RightsMode, SelectParams};
    use axigen_protocols::imap::extensions::sasl::{SaslResponse, parse_response_line};
    use axigen_protocols::imap::fetch::Partial;
    use axigen_protocols::imap::search::EntryType;
    use axigen_protocols::imap::*;

    const RFC3501: ParseOptions = ParseOptions { utf8_accept: false };
    const UTF8: ParseOptions = ParseOptions { utf8_accept: true };

    fn parse_with(line: &[u8], options: &ParseOptions) -> Command {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        match Command::parse(&input, options) {
            Ok(c) => c,
            Err(e) => panic!("{:?}: {e:?}", String::from_utf8_lossy(line)),
        }
    }

    /// A canonical line: parses to `body`, and `body` prints back to it.
    fn both_ways(line: &str, body: CommandBody) {
        both_ways_with(line.as_bytes(), body, &RFC3501)
    }

    fn both_ways_with(line: &[u8], body: CommandBody, options: &ParseOptions) {
        let cmd = parse_with(line, options);
        assert_eq!(cmd.body, body, "{:?}", String::from_utf8_lossy(line));
        let mut expected = line.to_vec();
        expected.extend_from_slice(b"\r\n");
        let encoded = cmd.encode(options.utf8_accept);
        assert_eq!(String::from_utf8_lossy(&encoded), String::from_utf8_lossy(&expected));
    }

    /// A non-canonical but legal line: parses to `body`, and the canonical form
    /// parses to the same.
    fn one_way(line: &str, body: CommandBody) {
        one_way_bytes(line.as_bytes(), body)
    }

    fn one_way_bytes(line: &[u8], body: CommandBody) {
        let cmd = parse_with(line, &RFC3501);
        assert_eq!(cmd.body, body, "{:?}", String::from_utf8_lossy(line));
        let again = Command::parse(&cmd.encode(false), &RFC3501).expect("canonical form parses");
        assert_eq!(again, cmd);
    }

    /// A refused line: the error's tag and response status.
    fn refused(line: &str) -> (Option<String>, String) {
        refused_with(line.as_bytes(), &RFC3501)
    }

    fn refused_with(line: &[u8], options: &ParseOptions) -> (Option<String>, String) {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        match Command::parse(&input, options) {
            Ok(c) => panic!("{:?} parsed: {c:?}", String::from_utf8_lossy(line)),
            Err(e) => {
                let bytes = e.response().to_bytes();
                let text = String::from_utf8_lossy(&bytes);
                let status = text.split(' ').nth(1).unwrap_or_default().to_owned();
                (e.tag.map(|t| t.as_str().to_owned()), status)
            }
        }
    }

    fn bad(line: &str) {
        let tag = line.split(' ').next().map(str::to_owned);
        assert_eq!(refused(line), (tag, "BAD".to_owned()), "{line:?}");
    }

    fn mb(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    fn set(s: &str) -> SequenceSet {
        SequenceSet::parse(s).unwrap()
    }

    fn atom(s: &str) -> Atom {
        Atom::new(s).unwrap()
    }

    fn flag(s: &str) -> Flag {
        Flag::parse(s).unwrap()
    }

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn nz64(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap()
    }

    #[test]
    fn any_state_commands() {
        both_ways("A1 CAPABILITY", CommandBody::Capability);
        both_ways("A1 NOOP", CommandBody::Noop);
        both_ways("A1 LOGOUT", CommandBody::Logout);
        both_ways("A1 STARTTLS", CommandBody::StartTls);
        both_ways("A1 NAMESPACE", CommandBody::Namespace);
        both_ways("A1 IDLE", CommandBody::Idle);
        one_way("a001 capability", CommandBody::Capability);
        one_way("A1 NOOP  ", CommandBody::Noop);
        let cmd = parse_with(b"a]b.1 noop", &RFC3501);
        assert_eq!(cmd.tag.as_str(), "a]b.1");
    }

    #[test]
    fn login_and_authenticate() {
        let login = |u: &str, p: &[u8]| CommandBody::Login { username: u.into(), password: Secret::new(p.to_vec()) };
        both_ways("A1 LOGIN alice@example.org secret", login("alice@example.org", b"secret"));
        both_ways("A1 LOGIN alice \"two words\"", login("alice", b"two words"));
        both_ways("A1 LOGIN alice \"q\\\"uote\\\\\"", login("alice", b"q\"uote\\"));
        one_way("1 login \"fred\" \"fat man\"", login("fred", b"fat man"));
        one_way_bytes(b"A1 LOGIN {5}\r\nalice {4+}\r\np\xe4ss", login("alice", b"p\xe4ss"));
        both_ways("A1 LOGIN alice {4+}\r\np\r\ns", login("alice", b"p\r\ns"));

        let auth = |m: &str, ir: Option<&[u8]>| CommandBody::Authenticate {
            mechanism: atom(m),
            initial_response: ir.map(|d| Secret::new(d.to_vec())),
        };
        both_ways("A1 AUTHENTICATE PLAIN", auth("PLAIN", None));
        both_ways("A1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", auth("PLAIN", Some(b"\0alice\0secret")));
        both_ways("A1 AUTHENTICATE EXTERNAL =", auth("EXTERNAL", Some(b"")));
        one_way("a authenticate xoauth2 dXNlcj0=", auth("xoauth2", Some(b"user=")));
        bad("A1 AUTHENTICATE PLAIN AGFsaWNl*");
        bad("A1 AUTHENTICATE PLAIN AGF");

        assert_eq!(parse_response_line(b"*\r\n"), Some(SaslResponse::Cancel));
        assert_eq!(parse_response_line(b"\r\n"), Some(SaslResponse::Data(Secret::new(Vec::new()))));
        assert_eq!(parse_response_line(b"!!!!"), None);
    }

    #[test]
    fn enable_id_namespace() {
        both_ways("A1 ENABLE QRESYNC CONDSTORE", CommandBody::Enable(vec![atom("QRESYNC"), atom("CONDSTORE")]));
        both_ways("A1 ENABLE UTF8=ACCEPT", CommandBody::Enable(vec![atom("UTF8=ACCEPT")]));
        bad("A1 ENABLE");
        both_ways("A1 ID NIL", CommandBody::Id(None));
        let pairs = |p: &[(&str, Option<&str>)]| {
            CommandBody::Id(Some(
                p.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))).collect(),
            ))
        };
        both_ways(
            "A1 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")",
            pairs(&[("name", Some("Thunderbird")), ("version", Some("115.3.1"))]),
        );
        both_ways(
            "A1 ID (\"name\" \"Mac OS X Mail\" \"version\" \"16.0 (3731.400.51.1.1)\" \"os\" \"Mac OS X\" \"os-version\" \"13.4 (22F66)\" \"vendor\" \"Apple Inc.\")",
            pairs(&[
                ("name", Some("Mac OS X Mail")),
                ("version", Some("16.0 (3731.400.51.1.1)")),
                ("os", Some("Mac OS X")),
                ("os-version", Some("13.4 (22F66)")),
                ("vendor", Some("Apple Inc.")),
            ]),
        );
        both_ways("A1 ID (\"support-url\" NIL)", pairs(&[("support-url", None)]));
        both_ways("A1 ID ()", pairs(&[]));
        bad("A1 ID (\"name\")");
        bad("A1 ID (name \"x\")");
    }

    #[test]
    fn select_and_examine() {
        let select = |m: &str, params: SelectParams| CommandBody::Select { mailbox: mb(m), params };
        both_ways("A1 SELECT INBOX", select("INBOX", SelectParams::default()));
        one_way("A142 select inbox", select("INBOX", SelectParams::default()));
        one_way("A1 SELECT \"INBOX\" (CONDSTORE)", select("INBOX", SelectParams { condstore: true, qresync: None }));
        both_ways("A1 SELECT INBOX (CONDSTORE)", select("INBOX", SelectParams { condstore: true, qresync: None }));
        let qresync = |v: u32, m: u64, known: Option<&str>, matched: Option<(&str, &str)>| SelectParams {
            condstore: false,
            qresync: Some(QResync {
                uid_validity: nz(v),
                modseq: nz64(m),
                known_uids: known.map(set),
                seq_match: matched.map(|(a, b)| (set(a), set(b))),
            }),
        };
        // RFC 7162 3.2.5.2 examples.
        both_ways(
            "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            select("INBOX", qresync(67890007, 20050715194045000, Some("41,43:211,214:541"), None)),
        );
        both_ways(
            "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
            select(
                "INBOX",
                qresync(
                    67890007,
                    90060115194045000,
                    Some("1:29997"),
                    Some((
                        "5000,7500,9000,9990:9999",
                        "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997",
                    )),
                ),
            ),
        );
        both_ways("A1 SELECT INBOX (QRESYNC (1 2))", select("INBOX", qresync(1, 2, None, None)));
        both_ways(
            "A1 SELECT INBOX (QRESYNC (1 2 (1:2 5:6)))",
            select("INBOX", qresync(1, 2, None, Some(("1:2", "5:6")))),
        );
        both_ways(
            "A1 EXAMINE Entw&APw-rfe",
            CommandBody::Examine { mailbox: mb("Entwürfe"), params: SelectParams::default() },
        );
        bad("A1 SELECT INBOX (QRESYNC (1 2 1:*))");
        bad("A1 SELECT INBOX (QRESYNC (0 2))");
        bad("A1 SELECT INBOX (QRESYNC (1 0))");
        bad("A1 SELECT INBOX (FOO)");
        bad("A1 SELECT INBOX (CONDSTORE");
        bad("A1 SELECT");
        // A name that is a valid string but not a valid name: understood,
        // and refused with NO [CANNOT] (RFC 3501 9), never BAD.
        bad("A1 SELECT Entwürfe");
        for line in ["A1 SELECT \"Entwürfe\"", "A1 SELECT a&b", "A1 SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}"] {
            assert_eq!(refused(line), (Some("A1".to_owned()), "NO".to_owned()), "{line}");
        }
    }

    #[test]
    fn mailbox_management() {
        both_ways("A1 CREATE owatagusiam/", CommandBody::Create { mailbox: mb("owatagusiam/"), special_use: vec![] });
        both_ways(
            "A1 CREATE \"Sent Items\" (USE (\\Sent))",
            CommandBody::Create { mailbox: mb("Sent Items"), special_use: vec![atom("Sent")] },
        );
        both_ways("A1 DELETE blurdybloop", CommandBody::Delete(mb("blurdybloop")));
        both_ways("A1 RENAME Old \"New Name\"", CommandBody::Rename { from: mb("Old"), to: mb("New Name") });
        one_way("A1 SUBSCRIBE \"#news.comp.mail.mime\"", CommandBody::Subscribe(mb("#news.comp.mail.mime")));
        both_ways("A1 UNSUBSCRIBE &ZeVnLIqe-", CommandBody::Unsubscribe(mb("日本語")));
        one_way("A1 DELETE {5}\r\nTrash", CommandBody::Delete(mb("Trash")));
        one_way("A1 SUBSCRIBE inBoX", CommandBody::Subscribe(MailboxName::inbox()));
        assert_eq!(refused("A1 CREATE \"\""), (Some("A1".to_owned()), "NO".to_owned()));
        bad("A1 CREATE x (USE (Sent))");
        bad("A1 RENAME a");
        // A literal may hold any octet; a name may not: NO, not BAD.
        assert_eq!(refused("A1 DELETE {3+}\r\na\nb"), (Some("A1".to_owned()), "NO".to_owned()));
    }

    #[test]
    fn utf8_accept_mailbox_names() {
        let name = "Entwürfe/日本語";
        let line = format!("A1 SELECT \"{name}\"");
        both_ways_with(
            line.as_bytes(),
            CommandBody::Select { mailbox: mb(name), params: SelectParams::default() },
            &UTF8,
        );
        // Once UTF8=ACCEPT is on, "&" is no longer special (RFC 6855 3).
        both_ways_with(b"A1 DELETE a&b", CommandBody::Delete(mb("a&b")), &UTF8);
        // Without it, the same octets are not modified UTF-7: no such name.
        assert_eq!(refused(&line), (Some("A1".into()), "NO".into()));
        assert_eq!(refused_with(b"A1 SELECT \"\xff\"", &UTF8), (Some("A1".into()), "BAD".into()));
    }

    #[test]
    fn list_and_lsub() {
        let list = |sel: Vec<ListSelect>, r: &str, pats: &[&str], ret: Vec<ListReturn>| {
            CommandBody::List(ListCommand {
                selection: sel,
                reference: r.into(),
                patterns: pats.iter().map(|p| p.to_string()).collect(),
                returns: ret,
            })
        };
        both_ways("A1 LIST \"\" *", list(vec![], "", &["*"], vec![]));
        one_way("A1 LIST \"\" \"*\"", list(vec![], "", &["*"], vec![]));
        both_ways("A1 LIST \"\" %", list(vec![], "", &["%"], vec![]));
        both_ways("A1 LIST ~/Mail/ %", list(vec![], "~/Mail/", &["%"], vec![]));
        both_ways("A1 LIST \"\" \"\"", list(vec![], "", &[""], vec![]));
        both_ways("A1 LIST \"\" Entw&APw-rfe/*", list(vec![], "", &["Entwürfe/*"], vec![]));
        one_way(
            "a LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))",
            list(
                vec![],
                "",
                &["*"],
                vec![ListReturn::SpecialUse, ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen])],
            ),
        );
        both_ways(
            "A1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX Drafts %/Sub) RETURN (CHILDREN SUBSCRIBED)",
            list(
                vec![ListSelect::Subscribed, ListSelect::RecursiveMatch],
                "",
                &["INBOX", "Drafts", "%/Sub"],
                vec![ListReturn::Children, ListReturn::Subscribed],
            ),
        );
        both_ways("A1 LIST (SPECIAL-USE) \"\" *", list(vec![ListSelect::SpecialUse], "", &["*"], vec![]));
        both_ways("A1 LIST (REMOTE) \"\" *", list(vec![ListSelect::Remote], "", &["*"], vec![]));
        one_way("A1 LIST () \"\" * RETURN ()", list(vec![], "", &["*"], vec![]));
        one_way("A1 list \"\" {1}\r\n*", list(vec![], "", &["*"], vec![]));
        bad("A1 LIST (RECURSIVEMATCH) \"\" *");
        bad("A1 LIST (REMOTE RECURSIVEMATCH) \"\" *");
        bad("A1 LIST (FOO) \"\" *");
        bad("A1 LIST \"\" * RETURN (FOO)");
        bad("A1 LIST \"\" * RETURN (STATUS ())");
        bad("A1 LIST \"\" () ");
        bad("A1 LIST \"\"");
        both_ways(
            "A1 LSUB #news. comp.mail.*",
            CommandBody::Lsub { reference: "#news.".into(), pattern: "comp.mail.*".into() },
        );
        one_way("A1 LSUB \"\" \"*\"", CommandBody::Lsub { reference: "".into(), pattern: "*".into() });
    }

    #[test]
    fn status() {
        use StatusItem::*;
        both_ways(
            "A1 STATUS blurdybloop (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)",
            CommandBody::Status {
                mailbox: mb("blurdybloop"),
                items: vec![Messages, Recent, UidNext, UidValidity, Unseen, Deleted, Size, HighestModSeq, AppendLimit],
            },
        );
        one_way("A1 status INBOX (unseen)", CommandBody::Status { mailbox: MailboxName::inbox(), items: vec![Unseen] });
        bad("A1 STATUS INBOX ()");
        bad("A1 STATUS INBOX (FOO)");
        bad("A1 STATUS INBOX MESSAGES");
    }

    #[test]
    fn append() {
        let message = |flags: Vec<Flag>, date: Option<&str>, data: &[u8]| AppendMessage {
            flags,
            date: date.map(|d| DateTime::parse(d).unwrap()),
            data: data.to_vec(),
            binary: false,
            utf8: false,
            catenate: None,
        };
        both_ways(
            "A1 APPEND saved-messages (\\Seen $Forwarded) \"17-Jul-1996 02:44:25 -0700\" {7+}\r\nhello\r\n",
            CommandBody::Append {
                mailbox: mb("saved-messages"),
                messages: vec![message(
                    vec![Flag::Seen, flag("$Forwarded")],
                    Some("17-Jul-1996 02:44:25 -0700"),
                    b"hello\r\n",
                )],
            },
        );
        both_ways(
            "A1 APPEND INBOX {0+}\r\n",
            CommandBody::Append { mailbox: MailboxName::inbox(), messages: vec![message(vec![], None, b"")] },
        );
        one_way(
            "A1 APPEND \"Sent\" () \" 7-Feb-1994 21:52:25 -0800\" {2}\r\nhi",
            CommandBody::Append {
                mailbox: mb("Sent"),
                messages: vec![message(vec![], Some("07-Feb-1994 21:52:25 -0800"), b"hi")],
            },
        );
        // MULTIAPPEND (RFC 3502).
        both_ways(
            "A1 APPEND Drafts (\\Draft) {1+}\r\na (\\Seen) {1+}\r\nb {1+}\r\nc",
            CommandBody::Append {
                mailbox: mb("Drafts"),
                messages: vec![
                    message(vec![Flag::Draft], None, b"a"),
                    message(vec![Flag::Seen], None, b"b"),
                    message(vec![], None, b"c"),
                ],
            },
        );
        // imapclient's MULTIAPPEND, with two spaces between the messages.
        one_way(
            "A1 APPEND \"T\" {1+}\r\na  {1+}\r\nb",
            CommandBody::Append {
                mailbox: mb("T"),
                messages: vec![message(vec![], None, b"a"), message(vec![], None, b"b")],
            },
        );
        // CATENATE (RFC 4469 5), with MULTIAPPEND.
        both_ways(
            "A1 APPEND Drafts (\\Draft) CATENATE (TEXT {4+}\r\nab\r\n URL /INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1) CATENATE (URL /Sent/;UID=1)",
            CommandBody::Append {
                mailbox: mb("Drafts"),
                messages: vec![
                    AppendMessage {
                        catenate: Some(vec![
                            CatPart::Text(b"ab\r\n".to_vec()),
                            CatPart::Url("/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=1".into()),
                        ]),
                        ..message(vec![Flag::Draft], None, b"")
                    },
                    AppendMessage {
                        catenate: Some(vec![CatPart::Url("/Sent/;UID=1".into())]),
                        ..message(vec![], None, b"")
                    },
                ],
            },
        );
        bad("A1 APPEND Drafts CATENATE ()");
        bad("A1 APPEND Drafts CATENATE (TEXT \"x\")");
        bad("A1 APPEND Drafts CATENATE (BODY {1+}\r\nx)");
        // literal8 (RFC 3516) and UTF8 (RFC 6855).
        let binary = AppendMessage { binary: true, ..message(vec![], None, b"\0\xff") };
        both_ways_with(
            b"A1 APPEND INBOX ~{2+}\r\n\0\xff",
            CommandBody::Append { mailbox: MailboxName::inbox(), messages: vec![binary] },
            &RFC3501,
        );
        let utf8 = AppendMessage { binary: true, utf8: true, ..message(vec![], None, "Subject: ü".as_bytes()) };
        both_ways(
            "A1 APPEND INBOX UTF8 (~{11+}\r\nSubject: ü)",
            CommandBody::Append { mailbox: MailboxName::inbox(), messages: vec![utf8] },
        );
        bad("A1 APPEND INBOX \"hello\"");
        bad("A1 APPEND INBOX (\\Seen) \"31-Feb-1996 02:44:25 -0700\" {1+}\r\nx");
        bad("A1 APPEND INBOX {5+}\r\nab");
        bad("A1 APPEND INBOX {3+}\r\na\0b");
        bad("A1 APPEND INBOX UTF8 ({1+}\r\na)");
        bad("A1 APPEND INBOX (\\Seen {1+}\r\na");
    }

    #[test]
    fn selected_state_simple_commands() {
        both_ways("A1 CHECK", CommandBody::Check);
        both_ways("A1 CLOSE", CommandBody::Close);
        both_ways("A1 UNSELECT", CommandBody::Unselect);
        both_ways("A1 EXPUNGE", CommandBody::Expunge);
        both_ways("A1 UID EXPUNGE 3000:3002", CommandBody::UidExpunge(set("3000:3002")));
        one_way("A1 uid expunge 1,3", CommandBody::UidExpunge(set("1,3")));
        bad("A1 UID EXPUNGE");
        bad("A1 UID NOOP");
        bad("A1 EXPUNGE 1");
    }

    fn search(
        uid: bool,
        returns: Option<Vec<SearchReturn>>,
        charset: Option<&str>,
        criteria: Vec<SearchKey>,
    ) -> CommandBody {
        CommandBody::Search(SearchCommand { uid, returns, charset: charset.map(str::to_owned), criteria })
    }

    #[test]
    fn search_keys() {
        use SearchKey::*;
        let s = |v: &str| v.as_bytes().to_vec();
        both_ways(
            "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM Smith",
            search(false, None, None, vec![Flagged, Since(date("1-Feb-1994")), Not(Box::new(From(s("Smith"))))]),
        );
        both_ways(
            "A1 SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
            search(
                false,
                None,
                None,
                vec![
                    All, Answered, Deleted, Draft, Flagged, New, Old, Recent, Seen, Unanswered, Undeleted, Undraft,
                    Unflagged, Unseen,
                ],
            ),
        );
        both_ways(
            "A1 SEARCH BCC a CC b BODY \"c d\" TEXT e SUBJECT f TO g FROM \"\"",
            search(
                false,
                None,
                None,
                vec![Bcc(s("a")), Cc(s("b")), Body(s("c d")), Text(s("e")), Subject(s("f")), To(s("g")), From(s(""))],
            ),
        );
        both_ways(
            "A1 SEARCH BEFORE 1-Jan-2000 ON 29-Feb-2024 SINCE 31-Dec-1999 SENTBEFORE 2-Mar-2001 SENTON 3-Apr-2002 SENTSINCE 4-May-2003",
            search(
                false,
                None,
                None,
                vec![
                    Before(date("1-Jan-2000")),
                    On(date("29-Feb-2024")),
                    Since(date("31-Dec-1999")),
                    SentBefore(date("2-Mar-2001")),
                    SentOn(date("3-Apr-2002")),
                    SentSince(date("4-May-2003")),
                ],
            ),
        );
        one_way("A1 SEARCH SINCE \"01-Feb-1994\"", search(false, None, None, vec![Since(date("1-Feb-1994"))]));
        both_ways(
            "A1 SEARCH HEADER Message-ID <b27397@example.org> KEYWORD $Junk UNKEYWORD $NotJunk",
            search(
                false,
                None,
                None,
                vec![
                    Header("Message-ID".into(), s("<b27397@example.org>")),
                    Keyword(atom("$Junk")),
                    Unkeyword(atom("$NotJunk")),
                ],
            ),
        );
        both_ways("A1 SEARCH HEADER X-Spam \"\"", search(false, None, None, vec![Header("X-Spam".into(), s(""))]));
        both_ways(
            "A1 SEARCH LARGER 100 SMALLER 5000000000 OLDER 3600 YOUNGER 60",
            search(false, None, None, vec![Larger(100), Smaller(5_000_000_000), Older(nz(3600)), Younger(nz(60))]),
        );
        both_ways(
            "A1 SEARCH OR (FROM a TO b) NOT (1:5,7 UID 1:*)",
            search(
                false,
                None,
                None,
                vec![Or(
                    Box::new(And(vec![From(s("a")), To(s("b"))])),
                    Box::new(Not(Box::new(And(vec![SequenceSet(set("1:5,7")), Uid(set("1:*"))])))),
                )],
            ),
        );
        both_ways(
            "A1 SEARCH OR OR SEEN FLAGGED ((DELETED))",
            search(
                false,
                None,
                None,
                vec![Or(Box::new(Or(Box::new(Seen), Box::new(Flagged))), Box::new(And(vec![And(vec![Deleted])])))],
            ),
        );
        both_ways(
            "A1 SEARCH MODSEQ 620162338",
            search(false, None, None, vec![ModSeq { entry: None, modseq: 620162338 }]),
        );
        one_way(
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338",
            search(false, None, None, vec![ModSeq { entry: Some((Flag::Draft, EntryType::All)), modseq: 620162338 }]),
        );
        both_ways(
            "a SEARCH MODSEQ \"/flags/\\\\Draft\" all 620162338",
            search(false, None, None, vec![ModSeq { entry: Some((Flag::Draft, EntryType::All)), modseq: 620162338 }]),
        );
        one_way(
            "a search modseq \"/flags/$Junk\" PRIV 0",
            search(false, None, None, vec![ModSeq { entry: Some((flag("$Junk"), EntryType::Private)), modseq: 0 }]),
        );
        both_ways(
            "A1 SEARCH $",
            search(false, None, None, vec![SequenceSet(axigen_protocols::imap::SequenceSet::saved())]),
        );
        both_ways(
            "A1 UID SEARCH UID $ SEEN",
            search(true, None, None, vec![Uid(axigen_protocols::imap::SequenceSet::saved()), Seen]),
        );
    }

    #[test]
    fn search_return_and_charset() {
        use SearchKey::*;
        use SearchReturn::*;
        both_ways(
            "A1 UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) UNSEEN",
            search(true, Some(vec![Min, Max, Count, SearchReturn::All, Save]), None, vec![Unseen]),
        );
        both_ways("A1 SEARCH RETURN () ALL", search(false, Some(vec![]), None, vec![SearchKey::All]));
        both_ways("A1 SEARCH CHARSET UTF-8 TEXT x", search(false, None, Some("UTF-8"), vec![Text(b"x".to_vec())]));
        both_ways_with(
            b"A1 SEARCH RETURN (COUNT) CHARSET ISO-8859-1 SUBJECT {1+}\r\n\xfc",
            search(false, Some(vec![Count]), Some("ISO-8859-1"), vec![Subject(vec![0xfc])]),
            &RFC3501,
        );
        one_way(
            "a SEARCH CHARSET UTF-8 SUBJECT {3+}\r\nüb",
            search(false, None, Some("UTF-8"), vec![Subject("üb".as_bytes().to_vec())]),
        );
        one_way(
            "A1 SEARCH CHARSET \"UTF-8\" SUBJECT \"üb\"",
            search(false, None, Some("UTF-8"), vec![Subject("üb".as_bytes().to_vec())]),
        );
        // Clients in the wild.
        one_way(
            "A5 UID SEARCH 1:* NOT DELETED",
            search(true, None, None, vec![SequenceSet(set("1:*")), Not(Box::new(Deleted))]),
        );
        one_way(
            "a0014 UID SEARCH UNDELETED NOT (OR OR FROM x SUBJECT x TO x)",
            search(
                true,
                None,
                None,
                vec![
                    Undeleted,
                    Not(Box::new(And(vec![Or(
                        Box::new(Or(Box::new(From(b"x".to_vec())), Box::new(Subject(b"x".to_vec())))),
                        Box::new(To(b"x".to_vec())),
                    )]))),
                ],
            ),
        );
        bad("A1 SEARCH");
        // CONTEXT=SEARCH (RFC 5267): PARTIAL (a reversed range is the same
        // range), UPDATE, CONTEXT; CANCELUPDATE.
        let nz = |n| NonZeroU32::new(n).unwrap();
        both_ways(
            "A1 UID SEARCH RETURN (UPDATE PARTIAL 1:10 CONTEXT) UNSEEN",
            search(true, Some(vec![Update, Partial(nz(1), nz(10)), Context]), None, vec![Unseen]),
        );
        one_way(
            "A1 SEARCH RETURN (PARTIAL 4:2) ALL",
            search(false, Some(vec![Partial(nz(2), nz(4))]), None, vec![SearchKey::All]),
        );
        both_ways("A1 CANCELUPDATE \"B1\" \"B2\"", CommandBody::CancelUpdate(vec!["B1".into(), "B2".into()]));
        bad("A1 CANCELUPDATE");
        bad("A1 CANCELUPDATE B1");
        bad("A1 SEARCH RETURN (PARTIAL 1) ALL");
        bad("A1 SEARCH RETURN (PARTIAL 1:*) ALL");
        bad("A1 SEARCH RETURN (PARTIAL 0:3) ALL");
        bad("A1 SEARCH RETURN (PARTIAL 1:2 ALL) ALL");
        bad("A1 SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL");
        bad("A1 SEARCH (SEEN");
        bad("A1 SEARCH SEEN)");
        bad("A1 SEARCH OR SEEN");
        bad("A1 SEARCH FOO");
        bad("A1 SEARCH SINCE 30-Feb-2020");
        bad("A1 SEARCH 0");
        bad("A1 SEARCH UID 1:0");
        bad("A1 SEARCH OLDER 0");
        bad("A1 SEARCH LARGER 9223372036854775808");
        bad("A1 SEARCH HEADER \"a:b\" c");
        bad("A1 SEARCH CHARSET UTF-8");
        bad("A1 SEARCH MODSEQ \"/flags/\\\\draft\" foo 1");
    }

    #[test]
    fn sort_and_thread() {
        use axigen_protocols::imap::sort::{SortCommand, SortCriterion, SortKey, ThreadAlgorithm, ThreadCommand};
        let criterion = |reverse, key| SortCriterion { reverse, key };
        both_ways(
            "A1 UID SORT (REVERSE DATE SUBJECT DISPLAYFROM) UTF-8 UNDELETED SINCE 1-Feb-2024",
            CommandBody::Sort(SortCommand {
                uid: true,
                returns: None,
                criteria: vec![
                    criterion(true, SortKey::Date),
                    criterion(false, SortKey::Subject),
                    criterion(false, SortKey::DisplayFrom),
                ],
                charset: "UTF-8".into(),
                keys: vec![
                    SearchKey::Undeleted,
                    SearchKey::Since(axigen_protocols::imap::Date::new(2024, 2, 1).unwrap()),
                ],
            }),
        );
        // ESORT (RFC 5267).
        both_ways(
            "A1 SORT RETURN (MIN COUNT) (ARRIVAL) US-ASCII ALL",
            CommandBody::Sort(SortCommand {
                uid: false,
                returns: Some(vec![SearchReturn::Min, SearchReturn::Count]),
                criteria: vec![criterion(false, SortKey::Arrival)],
                charset: "US-ASCII".into(),
                keys: vec![SearchKey::All],
            }),
        );
        one_way(
            "a sort (reverse size) \"utf-8\" all",
            CommandBody::Sort(SortCommand {
                uid: false,
                returns: None,
                criteria: vec![criterion(true, SortKey::Size)],
                charset: "utf-8".into(),
                keys: vec![SearchKey::All],
            }),
        );
        both_ways(
            "A1 UID THREAD REFERENCES UTF-8 NOT DELETED",
            CommandBody::Thread(ThreadCommand {
                uid: true,
                algorithm: ThreadAlgorithm::References,
                charset: "UTF-8".into(),
                keys: vec![SearchKey::Not(Box::new(SearchKey::Deleted))],
            }),
        );
        both_ways(
            "A1 THREAD ORDEREDSUBJECT US-ASCII ALL",
            CommandBody::Thread(ThreadCommand {
                uid: false,
                algorithm: ThreadAlgorithm::OrderedSubject,
                charset: "US-ASCII".into(),
                keys: vec![SearchKey::All],
            }),
        );
        bad("A1 SORT () UTF-8 ALL");
        bad("A1 SORT (ARRIVAL) ALL");
        bad("A1 SORT (SHOESIZE) UTF-8 ALL");
        bad("A1 SORT (REVERSE) UTF-8 ALL");
        bad("A1 SORT (ARRIVAL) UTF-8");
        bad("A1 THREAD UTF-8 ALL");
        bad("A1 THREAD FOREST UTF-8 ALL");
        bad("A1 THREAD REFERENCES UTF-8");
    }

    #[test]
    fn notify() {
        use axigen_protocols::imap::extensions::notify::{Event, EventGroup, Filter, NotifySet};
        both_ways("A1 NOTIFY NONE", CommandBody::Notify(None));
        both_ways(
            "A1 NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge)) (SUBTREE (Lists Work) (MessageNew MailboxName)) (MAILBOXES Sent NONE)",
            CommandBody::Notify(Some(NotifySet {
                status: true,
                groups: vec![
                    EventGroup {
                        filter: Filter::Selected,
                        events: vec![
                            Event::MessageNew(vec![FetchAttribute::Uid, FetchAttribute::Flags]),
                            Event::MessageExpunge,
                        ],
                    },
                    EventGroup {
                        filter: Filter::Subtree(vec![mb("Lists"), mb("Work")]),
                        events: vec![Event::MessageNew(vec![]), Event::MailboxName],
                    },
                    EventGroup { filter: Filter::Mailboxes(vec![mb("Sent")]), events: vec![] },
                ],
            })),
        );
        one_way(
            "a notify set (personal (flagchange subscriptionchange))",
            CommandBody::Notify(Some(NotifySet {
                status: false,
                groups: vec![EventGroup {
                    filter: Filter::Personal,
                    events: vec![Event::FlagChange, Event::SubscriptionChange],
                }],
            })),
        );
        bad("A1 NOTIFY");
        bad("A1 NOTIFY SET");
        bad("A1 NOTIFY SET (ELSEWHERE (MessageNew))");
        bad("A1 NOTIFY SET (PERSONAL ())");
        bad("A1 NOTIFY SET (SUBTREE (MessageNew))");
    }

    #[test]
    fn search_nesting_is_bounded() {
        let deep = format!("A1 SEARCH {}ALL", "NOT ".repeat(200));
        let err = Command::parse(deep.as_bytes(), &RFC3501).unwrap_err();
        assert_eq!(err.response().to_bytes(), b"A1 BAD [LIMIT] command nested too deeply\r\n");
        let parens = format!("A1 SEARCH {}ALL{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(Command::parse(parens.as_bytes(), &RFC3501).unwrap_err().tag.unwrap().as_str(), "A1");
        let ok = format!("A1 SEARCH {}ALL", "NOT ".repeat(50));
        assert!(Command::parse(ok.as_bytes(), &RFC3501).is_ok());
    }

    fn fetch(uid: bool, s: &str, items: FetchItems, changed_since: Option<u64>, vanished: bool) -> CommandBody {
        CommandBody::Fetch(FetchCommand { uid, set: set(s), items, changed_since: changed_since.map(nz64), vanished })
    }

    fn section(part: &[u32], text: Option<SectionText>) -> Section {
        Section { part: part.iter().map(|&n| nz(n)).collect(), text }
    }

    #[test]
    fn fetch_items() {
        use FetchAttribute::*;
        let atts = FetchItems::Attributes;
        both_ways("A1 FETCH 2:4 ALL", fetch(false, "2:4", FetchItems::All, None, false));
        both_ways("A1 FETCH 1 FAST", fetch(false, "1", FetchItems::Fast, None, false));
        both_ways("A1 FETCH 1:* FULL", fetch(false, "1:*", FetchItems::Full, None, false));
        both_ways("A1 FETCH 1:* (FLAGS)", fetch(false, "1:*", atts(vec![Flags]), None, false));
        one_way("A1 FETCH 1 flags", fetch(false, "1", atts(vec![Flags]), None, false));
        both_ways(
            "A1 FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)",
            fetch(
                false,
                "1",
                atts(vec![
                    Envelope,
                    Flags,
                    InternalDate,
                    Rfc822,
                    Rfc822Header,
                    Rfc822Size,
                    Rfc822Text,
                    Body,
                    BodyStructure,
                    Uid,
                    ModSeq,
                ]),
                None,
                false,
            ),
        );
        let body = |peek: bool, section: Section, partial: Option<(u64, u64)>| BodySection {
            peek,
            section,
            partial: partial.map(|(o, l)| Partial { offset: o, length: nz64(l) }),
        };
        both_ways(
            "A1 FETCH 1 (BODY[] BODY[TEXT] BODY.PEEK[HEADER] BODY[3] BODY[1.2.MIME] BODY[1.2.TEXT] BODY.PEEK[4.1.HEADER]<0.2048>)",
            fetch(
                false,
                "1",
                atts(vec![
                    body(false, section(&[], None), None),
                    body(false, section(&[], Some(SectionText::Text)), None),
                    body(true, section(&[], Some(SectionText::Header)), None),
                    body(false, section(&[3], None), None),
                    body(false, section(&[1, 2], Some(SectionText::Mime)), None),
                    body(false, section(&[1, 2], Some(SectionText::Text)), None),
                    body(true, section(&[4, 1], Some(SectionText::Header)), Some((0, 2048))),
                ]),
                None,
                false,
            ),
        );
        both_ways(
            "A1 FETCH 1 (BODY[HEADER.FIELDS (DATE FROM)]<0.2048>)",
            fetch(
                false,
                "1",
                atts(vec![body(
                    false,
                    section(&[], Some(SectionText::HeaderFields(vec!["DATE".into(), "FROM".into()]))),
                    Some((0, 2048)),
                )]),
                None,
                false,
            ),
        );
        one_way(
            "A1 FETCH 1 body.peek[1.header.fields.not (X-Spam \"X-Junk\")]",
            fetch(
                false,
                "1",
                atts(vec![body(
                    true,
                    section(&[1], Some(SectionText::HeaderFieldsNot(vec!["X-Spam".into(), "X-Junk".into()]))),
                    None,
                )]),
                None,
                false,
            ),
        );
        // BINARY (RFC 3516).
        both_ways(
            "A1 FETCH 1 (BINARY[1] BINARY.PEEK[1.1]<0.100> BINARY.SIZE[2] BINARY[])",
            fetch(
                false,
                "1",
                atts(vec![
                    Binary { peek: false, part: vec![nz(1)], partial: None },
                    Binary {
                        peek: true,
                        part: vec![nz(1), nz(1)],
                        partial: Some(Partial { offset: 0, length: nz64(100) }),
                    },
                    BinarySize { part: vec![nz(2)] },
                    Binary { peek: false, part: vec![], partial: None },
                ]),
                None,
                false,
            ),
        );
    }

    #[test]
    fn fetch_modifiers_and_clients() {
        use FetchAttribute::*;
        let atts = FetchItems::Attributes;
        both_ways("A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)", fetch(true, "1:*", atts(vec![Flags]), Some(5), false));
        both_ways(
            "A1 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
            fetch(true, "300:500", atts(vec![Flags]), Some(12345), true),
        );
        one_way(
            "s100 UID FETCH 300:500 (FLAGS) (VANISHED CHANGEDSINCE 12345)",
            fetch(true, "300:500", atts(vec![Flags]), Some(12345), true),
        );
        // Thunderbird.
        one_way(
        "7 UID fetch 12 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        fetch(
            true,
            "12",
            atts(vec![
                Uid,
                Rfc822Size,
                Flags,
                BodySection {
                    peek: true,
                    section: section(
                        &[],
                        Some(SectionText::HeaderFields(
                            "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To"
                                .split(' ')
                                .map(str::to_owned)
                                .collect(),
                        )),
                    ),
                    partial: None,
                },
            ]),
            None,
            false,
        ),
    );
        // Apple Mail, mbsync, mutt, imaplib.
        one_way(
            "5 UID FETCH 1:* (FLAGS UID) (CHANGEDSINCE 1234)",
            fetch(true, "1:*", atts(vec![Flags, Uid]), Some(1234), false),
        );
        one_way("4 UID FETCH 1:* (UID FLAGS)", fetch(true, "1:*", atts(vec![Uid, Flags]), None, false));
        one_way(
        "a0005 UID FETCH 1:4294967295 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])",
        match parse_with(b"a0005 UID FETCH 1:4294967295 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL)])", &RFC3501).body {
            b @ CommandBody::Fetch(_) => b,
            _ => unreachable!(),
        },
    );
        one_way("ABCD3 FETCH 1 (RFC822)", fetch(false, "1", atts(vec![Rfc822]), None, false));
    }

    #[test]
    fn fetch_errors() {
        bad("A1 FETCH 1 (FLAGS) (VANISHED)");
        bad("A1 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)");
        bad("A1 UID FETCH 1 (FLAGS) (CHANGEDSINCE 0)");
        bad("A1 UID FETCH 1 (FLAGS) (FOO 1)");
        bad("A1 UID FETCH 1 (FLAGS) ()");
        bad("A1 FETCH 1 BODY[MIME]");
        bad("A1 FETCH 1 BODY[0]");
        bad("A1 FETCH 1 BODY[1.]");
        bad("A1 FETCH 1 BODY[HEADER.FIELDS ()]");
        bad("A1 FETCH 1 BODY[1]<0.0>");
        bad("A1 FETCH 1 BODY[1]<5>");
        bad("A1 FETCH 1 BODY.PEEK");
        bad("A1 FETCH 1 BINARY[TEXT]");
        bad("A1 FETCH 1 (FLAGS UID");
        bad("A1 FETCH 1 (FLAGS))");
        bad("A1 FETCH 1 ()");
        bad("A1 FETCH 1 FOO");
        bad("A1 FETCH 0 FLAGS");
        bad("A1 FETCH 1:0 FLAGS");
        bad("A1 FETCH * ");
        bad("A1 FETCH 1  FLAGS");
    }

    #[test]
    fn store() {
        let store =
            |uid: bool, s: &str, unchanged_since: Option<u64>, action: StoreAction, silent: bool, flags: Vec<Flag>| {
                CommandBody::Store(StoreCommand { uid, set: set(s), unchanged_since, action, silent, flags })
            };
        both_ways(
            "A003 STORE 2:4 +FLAGS (\\Deleted)",
            store(false, "2:4", None, StoreAction::Add, false, vec![Flag::Deleted]),
        );
        both_ways(
            "A1 UID STORE 1 -FLAGS.SILENT (\\Seen $Junk)",
            store(true, "1", None, StoreAction::Remove, true, vec![Flag::Seen, flag("$Junk")]),
        );
        both_ways("A1 STORE 1 FLAGS ()", store(false, "1", None, StoreAction::Replace, false, vec![]));
        both_ways(
            "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
            store(false, "7,5,9", Some(320162338), StoreAction::Add, true, vec![Flag::Deleted]),
        );
        both_ways(
            "A1 STORE 1 (UNCHANGEDSINCE 0) FLAGS (\\Seen)",
            store(false, "1", Some(0), StoreAction::Replace, false, vec![Flag::Seen]),
        );
        one_way(
            "A1 UID STORE 5 +FLAGS.SILENT \\Seen \\Flagged",
            store(true, "5", None, StoreAction::Add, true, vec![Flag::Seen, Flag::Flagged]),
        );
        one_way("A1 store 1 +flags \\deleted", store(false, "1", None, StoreAction::Add, false, vec![Flag::Deleted]));
        bad("A1 STORE 1 FLAGS");
        bad("A1 STORE 1 +FLAG (\\Seen)");
        bad("A1 STORE 1 FLAGS.LOUD (\\Seen)");
        bad("A1 STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)");
        bad("A1 STORE 1 (FOO 1) FLAGS (\\Seen)");
        bad("A1 STORE 1 FLAGS (\\Seen");
        bad("A1 STORE 1 FLAGS (\\)");
    }

    #[test]
    fn copy_and_move() {
        both_ways("A003 COPY 2:4 MEETING", CommandBody::Copy { uid: false, set: set("2:4"), mailbox: mb("MEETING") });
        both_ways(
            "A1 UID COPY 1:3 \"Sent Items\"",
            CommandBody::Copy { uid: true, set: set("1:3"), mailbox: mb("Sent Items") },
        );
        both_ways("a UID MOVE 42:69 foo", CommandBody::Move { uid: true, set: set("42:69"), mailbox: mb("foo") });
        both_ways("A1 MOVE $ Trash", CommandBody::Move { uid: false, set: SequenceSet::saved(), mailbox: mb("Trash") });
        bad("A1 COPY 1");
        bad("A1 MOVE 1,, Trash");
    }

    #[test]
    fn quota() {
        both_ways("A1 GETQUOTA \"\"", CommandBody::GetQuota(String::new()));
        both_ways("A1 GETQUOTAROOT INBOX", CommandBody::GetQuotaRoot(MailboxName::inbox()));
        both_ways(
            "A1 SETQUOTA \"\" (STORAGE 512 MESSAGE 1000)",
            CommandBody::SetQuota {
                root: String::new(),
                limits: vec![(atom("STORAGE"), 512), (atom("MESSAGE"), 1000)],
            },
        );
        both_ways("A1 SETQUOTA user.alice ()", CommandBody::SetQuota { root: "user.alice".into(), limits: vec![] });
        one_way(
            "A1 setquota \"\" (storage 1)",
            CommandBody::SetQuota { root: String::new(), limits: vec![(atom("STORAGE"), 1)] },
        );
        bad("A1 SETQUOTA \"\" (STORAGE)");
        bad("A1 SETQUOTA \"\" (STORAGE -1)");
    }

    #[test]
    fn acl() {
        let change = |mode: RightsMode, r: &str| RightsChange { mode, rights: Rights::new(r).unwrap() };
        both_ways(
            "A1 SETACL INBOX/Drafts Chris +cda",
            CommandBody::SetAcl {
                mailbox: mb("INBOX/Drafts"),
                identifier: "Chris".into(),
                rights: change(RightsMode::Add, "cda"),
            },
        );
        both_ways(
            "A1 SETACL INBOX bob lrswipkxtea",
            CommandBody::SetAcl {
                mailbox: MailboxName::inbox(),
                identifier: "bob".into(),
                rights: change(RightsMode::Replace, "lrswipkxtea"),
            },
        );
        both_ways(
            "A1 SETACL INBOX -bob -w",
            CommandBody::SetAcl {
                mailbox: MailboxName::inbox(),
                identifier: "-bob".into(),
                rights: change(RightsMode::Remove, "w"),
            },
        );
        both_ways(
            "A1 SETACL INBOX anyone \"\"",
            CommandBody::SetAcl {
                mailbox: MailboxName::inbox(),
                identifier: "anyone".into(),
                rights: change(RightsMode::Replace, ""),
            },
        );
        both_ways(
            "A1 DELETEACL INBOX anyone",
            CommandBody::DeleteAcl { mailbox: MailboxName::inbox(), identifier: "anyone".into() },
        );
        both_ways("A1 GETACL INBOX", CommandBody::GetAcl(MailboxName::inbox()));
        both_ways(
            "A1 LISTRIGHTS ~/Mail/saved smith",
            CommandBody::ListRights { mailbox: mb("~/Mail/saved"), identifier: "smith".into() },
        );
        both_ways("A1 MYRIGHTS INBOX", CommandBody::MyRights(MailboxName::inbox()));
        bad("A1 SETACL INBOX bob +z");
        bad("A1 SETACL INBOX bob");
        bad("A1 GETACL");
    }

    #[test]
    fn errors_carry_the_tag() {
        assert_eq!(refused(""), (None, "BAD".into()));
        assert_eq!(refused(" NOOP"), (None, "BAD".into()));
        assert_eq!(refused("+ NOOP"), (None, "BAD".into()));
        assert_eq!(refused("(a) NOOP"), (None, "BAD".into()));
        assert_eq!(refused("A1"), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused("A1 BLURDYBLOOP"), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused("A1 NOOP extra"), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused("A1\tNOOP"), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused("A1  NOOP"), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused_with(b"A1 NOOP\0", &RFC3501), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused_with(b"A1 LOGIN a \"b\rc\"", &RFC3501), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused_with(b"A1 LOGIN a \"\\x\"", &RFC3501), (Some("A1".into()), "BAD".into()));
        assert_eq!(refused_with(b"A1 LOGIN \"\xc3\" b", &RFC3501), (Some("A1".into()), "BAD".into()));
        let err = Command::parse(b"A1 FETCH 0 FLAGS\r\n", &RFC3501).unwrap_err();
        assert_eq!(err.response().to_bytes(), b"A1 BAD invalid sequence set\r\n");
        let err = Command::parse(b"\r\n", &RFC3501).unwrap_err();
        assert_eq!(err.response().to_bytes(), b"* BAD missing or invalid tag\r\n");
    }
}
