//! Tests of the SORT and THREAD algorithms.

use super::*;

/// A message; `message_id` and `references` are header values.
fn msg(id: u32, sent: i64, subject: &str, message_id: &str, references: &str) -> ThreadInput {
    ThreadInput {
        id,
        sent,
        subject: subject.to_owned(),
        message_id: message_ids(message_id).into_iter().next(),
        references: reference_ids(Some(references), None),
    }
}

fn wire(threads: &[Thread]) -> String {
    let mut out = Vec::new();
    encode(&mut out, threads);
    String::from_utf8(out).unwrap()
}

fn by_references(messages: &[ThreadInput]) -> String {
    wire(&references(messages))
}

fn by_subject(messages: &[ThreadInput]) -> String {
    wire(&ordered_subject(messages))
}

fn leaf(id: u32) -> Thread {
    Thread { id: Some(id), children: Vec::new() }
}

fn node(id: Option<u32>, children: Vec<Thread>) -> Thread {
    Thread { id, children }
}

/// Seconds of a time of day, for the dates of the Dovecot test boxes.
fn hms(h: i64, m: i64, s: i64) -> i64 {
    1_203_638_400 + h * 3600 + m * 60 + s
}

/// The module documentation's example, which `cargo test --lib` does not run.
#[test]
fn module_example() {
    let messages = [
        msg(1, 100, "Lunch", "<a@example.org>", ""),
        msg(2, 300, "Re: Lunch", "<b@example.org>", "<a@example.org>"),
        msg(3, 200, "Minutes", "<c@example.org>", ""),
        msg(4, 400, "Lunch", "<d@example.org>", ""),
    ];
    assert_eq!(by_references(&messages), "((1 2)(4))(3)");
    assert_eq!(by_subject(&messages), "(1 (2)(4))(3)");
}

#[test]
fn base_subject_rules() {
    let cases = [
        // (subject, base subject, reply or forward)
        ("", "", false),
        ("   ", "", false),
        ("foo", "FOO", false),
        ("  foo \t bar  ", "FOO BAR", false),
        ("foo\r\n bar", "FOO BAR", false),
        // subj-refwd
        ("Re: foo", "FOO", true),
        ("RE:foo", "FOO", true),
        ("re :  foo", "FOO", true),
        ("Fw: foo", "FOO", true),
        ("FWD: foo", "FOO", true),
        ("fwd : foo", "FOO", true),
        ("Re[2]: foo", "FOO", true),
        ("Re [2] : foo", "FOO", true),
        ("Re: Re: Fwd: foo", "FOO", true),
        ("Re:", "", true),
        // subj-trailer
        ("foo (fwd)", "FOO", true),
        ("foo (FWD) (fwd)  ", "FOO", true),
        ("foo(fwd)", "FOO", true),
        // subj-fwd-hdr ... subj-fwd-trl
        ("[fwd: foo]", "FOO", true),
        ("[Fwd: Re: foo]", "FOO", true),
        ("[fwd: ]", "", true),
        ("Re: [FWD: c]", "C", true),
        // subj-blob
        ("[list] foo", "FOO", false),
        ("[list]foo", "FOO", false),
        ("[list]", "[LIST]", false),
        ("[a][b]", "[B]", false),
        ("[a] [b] Re: foo", "FOO", true),
        ("[a] Re: [b] Fwd: foo", "FOO", true),
        ("[fwd: foo] bar", "BAR", false),
        ("Re: [list]", "[LIST]", true),
        ("[unclosed foo", "[UNCLOSED FOO", false),
        // Nested, from Dovecot's thread-orderedsubject box.
        ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "B", true),
        ("re: [fwd: [fwd: re: [fwd: babylon]]]", "BABYLON", true),
        // Not replies: the prefixes are only English, only with ':'.
        ("Ad: Re: Ad: Re: Ad: x", "AD: RE: AD: RE: AD: X", false),
        ("Rebecca: hi", "REBECCA: HI", false),
        ("Refund", "REFUND", false),
        ("Re foo", "RE FOO", false),
        ("foo Re: bar", "FOO RE: BAR", false),
        // Folding beyond ASCII.
        ("Re: Ärger", "ÄRGER", true),
        ("Straße", "STRAßE", false),
    ];
    for (subject, base, reply) in cases {
        assert_eq!(base_subject_ext(subject), (base.to_owned(), reply), "{subject:?}");
        assert_eq!(base_subject(subject), base, "{subject:?}");
        assert_eq!(is_reply_or_forward(subject), reply, "{subject:?}");
    }
    assert_eq!(base_subject("ärger"), base_subject("ÄRGER"));
}

#[test]
fn collation_and_display_values() {
    assert_eq!(collation_key("Mixed Case éè"), "MIXED CASE ÉÈ");
    assert_eq!(display_sort_value(Some("Joe Bloggs"), Some("joe"), Some("example.org")), "JOE BLOGGS");
    assert_eq!(display_sort_value(Some(""), Some("joe"), Some("example.org")), "JOE@EXAMPLE.ORG");
    assert_eq!(display_sort_value(None, Some("joe"), Some("example.org")), "JOE@EXAMPLE.ORG");
    assert_eq!(display_sort_value(None, Some("undisclosed-recipients"), None), "UNDISCLOSED-RECIPIENTS");
    assert_eq!(display_sort_value(None, None, None), "");
}

#[test]
fn message_ids_from_headers() {
    let cases: [(&str, &[&str]); 14] = [
        ("", &[]),
        ("<a@b>", &["a@b"]),
        ("  <a@b>  <c@d>\r\n\t<e@f>", &["a@b", "c@d", "e@f"]),
        ("(comment <x@y>) <a@b> (another (nested) <z@y>)", &["a@b"]),
        ("(escaped \\) <x@y>) <a@b>", &["a@b"]),
        ("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>", &["01KF8JCEOCBS0045PS@xxx.yyy.com"]),
        ("<\"a\\\"b\"@c>", &["a\"b@c"]),
        ("<a@b (comment)>", &["a@b"]),
        ("< a@b >", &["a@b"]),
        ("Your message of \"Mon, 1 Jan <not@this>\" <a@b>", &["a@b"]),
        ("<> <a@b", &[]),
        ("<a@b<c@d>", &["c@d"]),
        ("(unclosed <a@b>", &["a@b"]),
        ("<A@B> <a@b>", &["A@B", "a@b"]),
    ];
    for (value, ids) in cases {
        assert_eq!(message_ids(value), ids, "{value:?}");
    }
    assert_eq!(message_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"), message_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>"));
}

#[test]
fn reference_ids_fall_back_to_in_reply_to() {
    assert_eq!(reference_ids(Some("<a@b> <c@d>"), Some("<x@y>")), ["a@b", "c@d"]);
    assert_eq!(reference_ids(None, Some("<x@y> <z@y>")), ["x@y"]);
    assert_eq!(reference_ids(Some("garbage"), Some("<x@y> (from <z@y>)")), ["x@y"]);
    assert_eq!(reference_ids(None, None), Vec::<String>::new());
}

#[test]
fn encode_forms() {
    // RFC 5256 BASE.7.2.THREAD examples.
    let rfc = [
        leaf(2),
        node(
            Some(3),
            vec![node(
                Some(6),
                vec![node(Some(4), vec![leaf(23)]), node(Some(44), vec![node(Some(7), vec![leaf(96)])])],
            )],
        ),
    ];
    assert_eq!(wire(&rfc), "(2)(3 6 (4 23)(44 7 96))");
    assert_eq!(wire(&[node(None, vec![leaf(3), leaf(5)])]), "((3)(5))");
    // Dummies the algorithms never leave: one child, none, nested, below a message.
    assert_eq!(wire(&[node(None, vec![leaf(3)])]), "(3)");
    assert_eq!(wire(&[node(None, vec![]), leaf(1)]), "(1)");
    assert_eq!(wire(&[node(None, vec![node(None, vec![leaf(1), leaf(2)]), leaf(3)])]), "((1)(2)(3))");
    assert_eq!(wire(&[node(Some(1), vec![node(None, vec![leaf(2)])])]), "(1 2)");
    assert_eq!(wire(&[node(Some(1), vec![node(None, vec![leaf(2), leaf(3)])])]), "(1 (2)(3))");
    assert_eq!(wire(&[node(Some(4_294_967_295), vec![leaf(10)])]), "(4294967295 10)");
    assert_eq!(wire(&[]), "");
    assert_eq!(format!("{:?}", node(None, vec![node(Some(1), vec![leaf(2)]), leaf(3)])), "* [1 [2], 3]");
}

/// Dovecot imaptest `thread-orderedsubject`: equal dates, so sequence
/// order; subjects as decoded from the box.
#[test]
fn ordered_subject_dovecot() {
    let subjects = [
        "a",
        "C",
        "b",
        "_",
        "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)",
        "b (a)",
        "Re: [FWD: c]",
        "[xyz]",
        "",
        " ",
        "Re: b",
        "RE: C",
        "Re: c",
        "Ad: Re: Ad: Re: Ad: x",
        "re: [fwd: [fwd: re: [fwd: babylon]]]",
    ];
    let messages: Vec<ThreadInput> =
        subjects.iter().zip(1..).map(|(subject, id)| msg(id, hms(21, 0, 0), subject, "", "")).collect();
    assert_eq!(by_subject(&messages), "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)");
}

/// Dovecot imaptest `thread-orderedsubject2`: sent dates decide.
#[test]
fn ordered_subject_dates() {
    let messages = [
        msg(1, hms(20, 0, 10), "a", "", ""),
        msg(2, hms(20, 0, 9), "b", "", ""),
        msg(3, hms(20, 0, 8), "a", "", ""),
        msg(4, hms(20, 0, 7), "b", "", ""),
        msg(5, hms(20, 0, 30), "a", "", ""),
        msg(6, hms(20, 0, 29), "b", "", ""),
        msg(7, hms(20, 0, 28), "a", "", ""),
        msg(8, hms(20, 0, 27), "b", "", ""),
    ];
    assert_eq!(by_subject(&messages), "(4 (2)(8)(6))(3 (1)(7)(5))");
    // The slice order does not matter.
    let mut reversed = messages.to_vec();
    reversed.reverse();
    assert_eq!(by_subject(&reversed), "(4 (2)(8)(6))(3 (1)(7)(5))");
    assert_eq!(by_subject(&[]), "");
}

/// Dovecot imaptest `thread`, `thread2`, `thread3`, `thread4`,
/// `thread6`, `thread8`; the second set of each is after the EXPUNGE.
#[test]
fn references_dovecot() {
    // thread: message 3 makes its parent its child; 1.B breaks 3's
    // link to `a` although the new link is refused as a loop.
    let thread = [
        msg(1, hms(17, 6, 23), "", "<a@b>", ""),
        msg(2, hms(15, 6, 23), "", "<b@b>", "<a@b> <c@b>"),
        msg(3, hms(16, 6, 25), "", "<c@b>", "<b@b>"),
    ];
    assert_eq!(by_references(&thread), "(3 2)(1)");
    let expunged = [msg(1, hms(15, 6, 23), "", "<b@b>", "<a@b> <c@b>"), msg(2, hms(16, 6, 25), "", "<c@b>", "<b@b>")];
    assert_eq!(by_references(&expunged), "(2 1)");
    // thread2: a duplicated Message-ID is no ID.
    let thread2 = [msg(1, hms(15, 6, 23), "", "<a@b>", ""), msg(2, hms(15, 6, 23), "", "<a@b>", "")];
    assert_eq!(by_references(&thread2), "(1)(2)");
    // thread3: ... but the subject still groups it.
    let thread3 = [msg(1, hms(15, 6, 23), "foo", "<a@b>", ""), msg(2, hms(15, 6, 24), "Re: foo", "<a@b>", "")];
    assert_eq!(by_references(&thread3), "(1 2)");
    // thread4: a dummy root with one child gives way to it.
    let thread4 = [msg(1, hms(15, 6, 23), "foo", "<a@b>", ""), msg(2, hms(15, 6, 24), "Re: foo", "<b@b>", "<c@b>")];
    assert_eq!(by_references(&thread4), "(1 2)");
    // thread6: no Message-ID, one missing parent: a dummy root.
    let thread6 = [msg(1, hms(15, 6, 23), "", "", "<a@b>"), msg(2, hms(15, 6, 24), "", "", "<a@b>")];
    assert_eq!(by_references(&thread6), "((1)(2))");
    // thread8
    let thread8 = [msg(1, hms(15, 6, 23), "", "<a@b>", ""), msg(2, hms(15, 6, 23), "", "<b@b>", "<a@b>")];
    assert_eq!(by_references(&thread8), "(1 2)");
    assert_eq!(by_references(&thread8[..1]), "(1)");
}

/// Dovecot imaptest `thread5`: In-Reply-To, equal dates, expunges.
#[test]
fn references_dovecot_in_reply_to() {
    let irt = |id, sent, message_id: &str, in_reply_to: &str| ThreadInput {
        id,
        sent,
        subject: String::new(),
        message_id: message_ids(message_id).into_iter().next(),
        references: reference_ids(None, Some(in_reply_to)),
    };
    let t = hms(15, 6, 23);
    let all = [
        irt(1, hms(17, 6, 23), "<1@b>", ""),
        irt(2, t, "<2@b>", "<1@b>"),
        irt(3, t, "<3@b>", "<1@b>"),
        irt(4, t, "<4@b>", "<2@b>"),
    ];
    assert_eq!(by_references(&all), "(1 (2 4)(3))");
    let expunged = [irt(1, t, "<3@b>", "<1@b>"), irt(2, t, "<4@b>", "<2@b>")];
    assert_eq!(by_references(&expunged), "(1)(2)");
    let appended = [irt(1, t, "<3@b>", "<1@b>"), irt(2, t, "<4@b>", "<2@b>"), irt(3, t, "<5@b>", "<2@b>")];
    assert_eq!(by_references(&appended), "(1)((2)(3))");
}

/// Dovecot imaptest `thread7`: a duplicated Message-ID, before and after
/// the first one is expunged.
#[test]
fn references_dovecot_duplicate() {
    let t = hms(15, 6, 23);
    let all = [
        msg(1, t, "", "<a@b>", ""),
        msg(2, t, "", "<b@b>", "<a@b>"),
        msg(3, t, "", "<c@b>", "<b@b>"),
        msg(4, t, "", "<b@b>", "<a@b>"),
    ];
    assert_eq!(by_references(&all), "(1 (2 3)(4))");
    let expunged = [msg(1, t, "", "<a@b>", ""), msg(2, t, "", "<c@b>", "<b@b>"), msg(3, t, "", "<b@b>", "<a@b>")];
    assert_eq!(by_references(&expunged), "(1 3 2)");
}

/// The trees of RFC 5256 BASE.7.2.THREAD built from references: later
/// messages are parents of earlier ones, and a missing parent.
#[test]
fn references_rfc_examples() {
    let messages = [
        msg(2, 1, "", "<m2@x>", ""),
        msg(3, 2, "", "<m3@x>", ""),
        msg(4, 4, "", "<m4@x>", "<m3@x> <m6@x>"),
        msg(6, 3, "", "<m6@x>", "<m3@x>"),
        msg(7, 7, "", "<m7@x>", "<m3@x> <m6@x> <m44@x>"),
        msg(23, 6, "", "<m23@x>", "<m3@x> <m6@x> <m4@x>"),
        msg(44, 5, "", "<m44@x>", "<m3@x> <m6@x>"),
        msg(96, 8, "", "<m96@x>", "<m3@x> <m6@x> <m44@x> <m7@x>"),
    ];
    assert_eq!(by_references(&messages), "(2)(3 6 (4 23)(44 7 96))");
    // Truncated References still find the ancestors through the others.
    let truncated = [
        msg(1, 1, "", "<r@x>", ""),
        msg(2, 2, "", "<s@x>", "<r@x>"),
        msg(3, 3, "", "<t@x>", "<s@x>"),
        msg(4, 4, "", "", "<t@x>"),
    ];
    assert_eq!(by_references(&truncated), "(1 2 3 4)");
    // 3 and 5 share a parent that is not there.
    let missing = [
        msg(1, 1, "one", "<a@x>", ""),
        msg(3, 3, "three", "<c@x>", "<gone@x>"),
        msg(5, 5, "five", "<e@x>", "<gone@x>"),
        msg(6, 6, "six", "<f@x>", ""),
    ];
    assert_eq!(by_references(&missing), "(1)((3)(5))(6)");
    // Nested dummies below a message vanish, their children move up.
    let nested = [
        msg(1, 1, "", "<a@x>", ""),
        msg(2, 2, "", "<b@x>", "<a@x> <gone1@x> <gone2@x>"),
        msg(3, 3, "", "<c@x>", "<a@x> <gone1@x> <gone3@x>"),
    ];
    assert_eq!(by_references(&nested), "(1 (2)(3))");
    // A dummy root sorts by its earliest child.
    let dummy_order =
        [msg(1, 50, "", "<a@x>", ""), msg(2, 40, "", "<b@x>", "<gone@x>"), msg(3, 10, "", "<c@x>", "<gone@x>")];
    assert_eq!(by_references(&dummy_order), "((3)(2))(1)");
}

#[test]
fn references_subject_grouping() {
    // A reply without references joins the original.
    assert_eq!(by_references(&[msg(1, 1, "foo", "<a@x>", ""), msg(2, 2, "Re: foo", "<b@x>", "")]), "(1 2)");
    // Two originals: a new dummy holds both.
    assert_eq!(by_references(&[msg(1, 1, "foo", "<a@x>", ""), msg(2, 2, "foo", "<b@x>", "")]), "((1)(2))");
    // The original wins the table over an earlier reply.
    assert_eq!(by_references(&[msg(1, 1, "Re: foo", "<a@x>", ""), msg(2, 2, "foo", "<b@x>", "")]), "(2 1)");
    // Two replies: a dummy.
    assert_eq!(by_references(&[msg(1, 1, "Re: foo", "", ""), msg(2, 2, "Fwd: foo", "", "")]), "((1)(2))");
    // A dummy root wins the table; the others become its children.
    let with_dummy = [
        msg(1, 1, "foo", "<a@x>", ""),
        msg(2, 2, "Re: foo", "<b@x>", "<gone@x>"),
        msg(3, 3, "Re: foo", "<c@x>", "<gone@x>"),
        msg(4, 4, "Re: foo", "<d@x>", ""),
    ];
    assert_eq!(by_references(&with_dummy), "((1)(2)(3)(4))");
    // Two dummies with one subject merge their children.
    let two_dummies = [
        msg(1, 1, "bar", "", "<x@x>"),
        msg(2, 2, "bar", "", "<x@x>"),
        msg(3, 3, "Re: bar", "", "<y@x>"),
        msg(4, 4, "Re: bar", "", "<y@x>"),
    ];
    assert_eq!(by_references(&two_dummies), "((1)(2)(3)(4))");
    // A root with children keeps them when it moves below another.
    let subtree = [
        msg(1, 1, "foo", "<a@x>", ""),
        msg(2, 2, "Re: foo", "<b@x>", "<elsewhere@x>"),
        msg(3, 3, "Re: foo", "<c@x>", "<b@x>"),
    ];
    assert_eq!(by_references(&subtree), "(1 2 3)");
    // Empty subjects never group; different subjects never group.
    assert_eq!(by_references(&[msg(1, 1, "", "", ""), msg(2, 2, "", "", ""), msg(3, 0, "Re:", "", "")]), "(3)(1)(2)");
    assert_eq!(by_references(&[msg(1, 1, "foo", "", ""), msg(2, 2, "Re: bar", "", "")]), "(1)(2)");
    // Grouping uses the base subject, case-folded.
    assert_eq!(by_references(&[msg(1, 1, "[list] FOO", "", ""), msg(2, 2, "Re: [list] foo (fwd)", "", "")]), "(1 2)");
}

#[test]
fn references_cycles() {
    // Two messages that reference each other.
    assert_eq!(by_references(&[msg(1, 1, "", "<a@x>", "<b@x>"), msg(2, 2, "", "<b@x>", "<a@x>")]), "(2 1)");
    // A message that references itself, alone and as its last
    // reference: 1.B breaks the link 1.A made to <p@x>, then refuses
    // the loop (as Dovecot does).
    assert_eq!(by_references(&[msg(1, 1, "", "<a@x>", "<a@x>")]), "(1)");
    assert_eq!(by_references(&[msg(1, 1, "", "<p@x>", ""), msg(2, 2, "", "<a@x>", "<p@x> <a@x>")]), "(1)(2)");
    // With its own ID first, 1.A makes the message the parent of
    // <p@x>, and 1.B refuses <p@x> as its parent.
    assert_eq!(by_references(&[msg(1, 1, "", "<p@x>", ""), msg(2, 2, "", "<a@x>", "<a@x> <p@x>")]), "(2 1)");
    // A three-cycle and repeated IDs in References.
    let three = [
        msg(1, 1, "", "<a@x>", "<c@x>"),
        msg(2, 2, "", "<b@x>", "<a@x> <a@x>"),
        msg(3, 3, "", "<c@x>", "<b@x> <c@x> <a@x> <b@x>"),
    ];
    // 1 makes c the parent of a, 2 makes a the parent of b; every link
    // 3 asks for would close a loop.
    let threads = references(&three);
    assert_eq!(wire(&threads), "(3 1 2)");
    // Whatever the input order, every message is printed exactly once.
    let mut ids = wire(&threads).replace(['(', ')'], " ").split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[test]
fn references_duplicates_and_missing_ids() {
    // The lowest id keeps a duplicated Message-ID, whatever the slice order.
    let messages = [msg(3, 3, "", "<a@x>", ""), msg(1, 1, "", "<a@x>", ""), msg(2, 2, "", "<b@x>", "<a@x>")];
    assert_eq!(by_references(&messages), "(1 2)(3)");
    // Angle brackets in the inputs are tolerated.
    let bracketed = [
        ThreadInput { id: 1, sent: 1, message_id: Some("<a@x>".into()), ..Default::default() },
        ThreadInput { id: 2, sent: 2, references: vec!["a@x".into()], ..Default::default() },
    ];
    assert_eq!(by_references(&bracketed), "(1 2)");
    // Empty IDs are no IDs.
    let empty = [
        ThreadInput { id: 1, sent: 1, message_id: Some(String::new()), ..Default::default() },
        ThreadInput { id: 2, sent: 2, references: vec![String::new()], ..Default::default() },
    ];
    assert_eq!(by_references(&empty), "(1)(2)");
    assert_eq!(by_references(&[]), "");
}

#[test]
fn sent_date_ties_go_to_id() {
    let messages = [msg(5, 7, "", "", ""), msg(2, 7, "", "", ""), msg(9, 3, "", "", ""), msg(1, 7, "", "", "")];
    assert_eq!(by_references(&messages), "(9)(1)(2)(5)");
    assert_eq!(by_subject(&messages), "(9 (1)(2)(5))");
}

fn chain(len: u32, reversed: bool) -> Vec<ThreadInput> {
    (1..=len)
        .map(|id| {
            let parent = if reversed { id + 1 } else { id - 1 };
            let references = if (1..=len).contains(&parent) { vec![format!("m{parent}")] } else { Vec::new() };
            ThreadInput {
                id,
                sent: i64::from(id),
                subject: format!("Re: chain {}", id % 7),
                message_id: Some(format!("m{id}")),
                references,
            }
        })
        .collect()
}

/// 20,000 levels: no stack overflow building, comparing, encoding or
/// dropping the tree.
#[test]
fn deep_chains() {
    const DEPTH: u32 = 20_000;
    for reversed in [false, true] {
        let messages = chain(DEPTH, reversed);
        let threads = references(&messages);
        let expected: Vec<String> = if reversed {
            (1..=DEPTH).rev().map(|id| id.to_string()).collect()
        } else {
            (1..=DEPTH).map(|id| id.to_string()).collect()
        };
        assert_eq!(wire(&threads), format!("({})", expected.join(" ")));
        assert_eq!(threads, references(&messages));
        assert!(format!("{threads:?}").len() > 100_000);
    }
    // One message whose References name 20,000 missing parents.
    let orphan =
        ThreadInput { id: 1, references: (0..DEPTH).map(|n| format!("gone{n}")).collect(), ..Default::default() };
    assert_eq!(by_references(&[orphan]), "(1)");
    // Every message lists all its ancestors (quadratic input, kept smaller).
    let full: Vec<ThreadInput> = (1..=2_000u32)
        .map(|id| ThreadInput {
            id,
            sent: i64::from(id),
            message_id: Some(format!("m{id}")),
            references: (1..id).map(|p| format!("m{p}")).collect(),
            ..Default::default()
        })
        .collect();
    assert!(by_references(&full).starts_with("(1 2 3 "));
    // A deep hand-made tree drops without recursion.
    let mut deep = leaf(0);
    for id in 1..=100_000 {
        deep = node(Some(id), vec![deep]);
    }
    drop(deep);
}

/// A small deterministic generator, for the smoke tests.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Checks the `thread-data` grammar and returns the numbers in it.
fn parse_thread_data(wire: &str) -> Vec<u32> {
    fn thread_list(b: &[u8], at: &mut usize, ids: &mut Vec<u32>) {
        assert_eq!(b[*at], b'(', "at {at}");
        *at += 1;
        if b[*at] == b'(' {
            let mut lists = 0;
            while b[*at] == b'(' {
                thread_list(b, at, ids);
                lists += 1;
            }
            assert!(lists >= 2, "thread-nested needs two lists, at {at}");
        } else {
            loop {
                let start = *at;
                while b[*at].is_ascii_digit() {
                    *at += 1;
                }
                let n: u32 = std::str::from_utf8(&b[start..*at]).unwrap().parse().unwrap();
                assert_ne!(n, 0);
                ids.push(n);
                if b[*at] != b' ' {
                    break;
                }
                *at += 1;
                if b[*at] == b'(' {
                    let mut lists = 0;
                    while b[*at] == b'(' {
                        thread_list(b, at, ids);
                        lists += 1;
                    }
                    assert!(lists >= 2, "thread-nested needs two lists, at {at}");
                    break;
                }
            }
        }
        assert_eq!(b[*at], b')', "at {at}");
        *at += 1;
    }
    let b = wire.as_bytes();
    let mut at = 0;
    let mut ids = Vec::new();
    while at < b.len() {
        thread_list(b, &mut at, &mut ids);
    }
    ids
}

/// Random mailboxes: both algorithms print every message exactly once,
/// in valid `thread-data`, and base subjects are stable.
#[test]
fn random_mailboxes() {
    let pieces = ["Re: ", "Fwd: ", "fw:", "[x] ", "[fwd: ", "]", " (fwd)", "foo", "Bar", " ", "\t", "(", "é", "["];
    let mut rng = Lcg(7);
    for round in 0..40 {
        let count = 1 + rng.below(300) as u32;
        let pool = 1 + rng.below(u64::from(count) + 10);
        let messages: Vec<ThreadInput> = (1..=count)
            .map(|id| {
                let subject: String =
                    (0..rng.below(6)).map(|_| pieces[rng.below(pieces.len() as u64) as usize]).collect();
                let message_id = (rng.below(5) != 0).then(|| format!("m{}", rng.below(pool)));
                let references = (0..rng.below(5)).map(|_| format!("m{}", rng.below(pool))).collect();
                ThreadInput { id, sent: rng.below(20) as i64, subject, message_id, references }
            })
            .collect();
        for subject in messages.iter().map(|m| &m.subject) {
            let base = base_subject(subject);
            assert_eq!(base_subject(&base), base, "{subject:?}");
        }
        for threads in [references(&messages), ordered_subject(&messages)] {
            let wire = wire(&threads);
            let mut ids = parse_thread_data(&wire);
            ids.sort_unstable();
            assert_eq!(ids, (1..=count).collect::<Vec<_>>(), "round {round}: {wire}");
        }
    }
}

/// 20,000 messages in a busy mailbox: threads in well under a second
/// in a release build (a few seconds at most unoptimised).
#[test]
fn large_mailbox() {
    let mut rng = Lcg(42);
    let count = 20_000u32;
    let messages: Vec<ThreadInput> = (1..=count)
        .map(|id| {
            let references = if id > 1 && rng.below(3) != 0 {
                let parent = 1 + rng.below(u64::from(id - 1));
                vec![format!("root{}", parent % 50), format!("m{parent}")]
            } else {
                Vec::new()
            };
            ThreadInput {
                id,
                sent: rng.below(1_000_000) as i64,
                subject: format!("{}topic {}", if rng.below(2) == 0 { "Re: " } else { "" }, rng.below(3_000)),
                message_id: Some(format!("m{id}")),
                references,
            }
        })
        .collect();
    let start = std::time::Instant::now();
    let by_refs = references(&messages);
    let by_subj = ordered_subject(&messages);
    let elapsed = start.elapsed();
    for threads in [by_refs, by_subj] {
        let mut ids = parse_thread_data(&wire(&threads));
        ids.sort_unstable();
        assert_eq!(ids.len(), count as usize);
    }
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
}
