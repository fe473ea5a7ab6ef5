//! Message structures in the store: written with the content, used the way
//! an IMAP FETCH uses them, checked, and added to a format-2 store on upgrade.

mod common;

use std::sync::Arc;
use std::time::Instant;

use axigen_core::mailstore::*;
use axigen_core::queue::{OutboundMessage, QueueStore};
use axigen_core::structure::{MessageStructure, SectionKind, parse_structure};
use base64::Engine;
use bytes::Bytes;
use common::*;
use mail_parser::{MessageParser, PartType};

const REPORT: &str = "From: Ann Example <ann@example.org>
To: Team: bob@example.com, \"Carol\" <carol@example.net>;
Subject: =?UTF-8?Q?Quarterly_r=C3=A9port?=
Date: Tue, 3 Mar 2026 10:00:00 +0100
Message-ID: <q1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"mixed\"

--mixed
Content-Type: multipart/alternative; boundary=\"alt\"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Numbers attached.
--alt
Content-Type: text/html; charset=utf-8

<p>Numbers attached.</p>
--alt--

--mixed
Content-Type: application/octet-stream; name=data.bin
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=data.bin

AAECAwQFBgcICQ==
--mixed
Content-Type: message/rfc822

From: bob@example.com
Subject: original
Content-Type: text/plain

the original
--mixed--
";

fn report() -> Bytes {
    Bytes::from(REPORT.replace('\n', "\r\n"))
}

fn new_message(content: Bytes) -> NewMessage {
    NewMessage { flags: Flags::empty(), keywords: vec![], internal_date: 1_700_000_000, content }
}

/// Every part mail-parser finds, with its IMAP part number: the sections cut
/// with the stored structure are the bytes mail-parser located, and decode to
/// what mail-parser decoded.
fn compare_with_mail_parser(s: &MessageStructure, raw: &[u8]) -> usize {
    fn walk(s: &MessageStructure, raw: &[u8], m: &mail_parser::Message<'_>, id: usize, path: Vec<u32>) -> usize {
        let part = &m.parts[id];
        let cut = |kind| &raw[s.section(raw, &path, kind).unwrap_or_else(|| panic!("{path:?} {kind:?}"))];
        let (header, body, end) = (part.offset_header as usize, part.offset_body as usize, part.offset_end as usize);
        if !path.is_empty() {
            assert_eq!(cut(SectionKind::Mime), &raw[header..body], "{path:?}.MIME");
            assert_eq!(cut(SectionKind::Full), &raw[body..end], "{path:?}");
        }
        let mut seen = 1;
        match &part.body {
            PartType::Multipart(children) => {
                for (i, &child) in children.iter().enumerate() {
                    let path = [path.clone(), vec![i as u32 + 1]].concat();
                    seen += walk(s, raw, m, child as usize, path);
                }
            }
            PartType::Message(embedded) => {
                let root = &embedded.parts[0];
                let (h, b, e) = (root.offset_header as usize, root.offset_body as usize, root.offset_end as usize);
                assert_eq!(cut(SectionKind::Header), &raw[h..b], "{path:?}.HEADER");
                assert_eq!(cut(SectionKind::Text), &raw[b..e], "{path:?}.TEXT");
                let inner = s.part(&path).and_then(|p| p.message.as_ref()).expect("embedded structure");
                assert_eq!(inner.envelope.subject.as_ref().unwrap().as_bytes(), embedded.subject().unwrap().as_bytes());
                if let PartType::Multipart(children) = &root.body {
                    for (i, &child) in children.iter().enumerate() {
                        seen += walk(s, raw, embedded, child as usize, [path.clone(), vec![i as u32 + 1]].concat());
                    }
                } else {
                    let sub = [path.clone(), vec![1]].concat();
                    assert_eq!(&raw[s.section(raw, &sub, SectionKind::Full).unwrap()], &raw[b..e]);
                    seen += 1;
                }
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => {
                let encoded: Vec<u8> =
                    cut(SectionKind::Full).iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
                assert_eq!(&decoded[..], &data[..], "{path:?} decoded");
            }
            PartType::Text(text) | PartType::Html(text) => {
                assert_eq!(std::str::from_utf8(cut(SectionKind::Full)).unwrap(), text, "{path:?} text");
            }
        }
        seen
    }
    let parsed = MessageParser::default().parse(raw).unwrap();
    assert_eq!(&raw[s.section(raw, &[], SectionKind::Header).unwrap()], &raw[..parsed.parts[0].offset_body as usize]);
    walk(s, raw, &parsed, 0, Vec::new())
}

#[tokio::test]
async fn fetch_style_sections_come_from_the_stored_structure() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "bob@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    store.append(a.id, inbox.id, new_message(report()), QuotaLimit::default()).await.unwrap();

    // FETCH 1 (ENVELOPE BODYSTRUCTURE BODY[...]): metadata, structure, content.
    let meta = &store.messages(a.id, inbox.id).await.unwrap()[0];
    let s = store.structure(meta.blob).await.unwrap();
    let raw = store.content(meta.blob).await.unwrap();
    assert_eq!(*s, parse_structure(&raw), "the stored structure is the content's");

    let e = &s.envelope;
    assert_eq!(e.subject.as_ref().unwrap(), "=?UTF-8?Q?Quarterly_r=C3=A9port?=", "as written");
    assert_eq!(e.from[0].name.as_ref().unwrap(), "Ann Example");
    assert_eq!(e.to.len(), 4, "group start, two members, group end");
    assert_eq!(e.to[0].mailbox.as_ref().unwrap(), "Team");
    assert_eq!(e.message_id.as_ref().unwrap(), "<q1@example.org>");

    let b = &s.body;
    assert_eq!((b.media_subtype.as_str(), b.parts.len()), ("mixed", 3));
    assert_eq!(b.parts[0].parts.len(), 2);
    assert_eq!(b.parts[1].disposition.as_ref().unwrap().kind, "attachment");
    assert_eq!(b.parts[2].message.as_ref().unwrap().envelope.subject.as_ref().unwrap(), "original");
    // text/plain [1.1] has one line; the embedded message [3] has five.
    assert_eq!((b.parts[0].parts[0].lines, b.parts[2].lines), (1, 5));

    let parts = compare_with_mail_parser(&s, &raw);
    assert_eq!(parts, 7, "the message, its three parts, the alternative's two, the embedded message's body");
    assert_eq!(&raw[s.section(&raw, &[1, 2], SectionKind::Full).unwrap()], b"<p>Numbers attached.</p>");
    assert_eq!(&raw[s.section(&raw, &[3, 1], SectionKind::Full).unwrap()], b"the original");
    assert_eq!(s.section(&raw, &[4], SectionKind::Full), None);

    // Copies share the blob and its structure; the last expunge removes both.
    store.copy(a.id, inbox.id, &[Uid(1)], inbox.id, QuotaLimit::default()).await.unwrap();
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.blobs, report.structures), (1, 1));
    store.expunge(a.id, inbox.id, &[Uid(1), Uid(2)]).await.unwrap();
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.blobs, report.structures), (0, 0));
    assert!(matches!(store.structure(meta.blob).await, Err(axigen_core::Error::NotFound(_))));
}

#[tokio::test]
async fn delivered_and_queued_content_gets_its_structure() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "d@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    let target =
        DeliveryTarget { account: a.id, folder: inbox.id, flags: Flags::empty(), quota: QuotaLimit::default() };
    store.deliver(report(), 0, &[target]).await.unwrap();
    let queued = Bytes::from_static(b"From: d@example.com\r\nSubject: out\r\n\r\nhello\r\n");
    let id = store
        .enqueue(OutboundMessage {
            message_id: String::new(),
            from: "d@example.com".into(),
            recipients: vec!["x@remote.example".into()],
            content: queued.clone(),
        })
        .await
        .unwrap();
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.blobs, report.structures), (2, 2));
    let s = store.structure(BlobId::of(&queued)).await.unwrap();
    assert_eq!(s.envelope.subject.as_ref().unwrap(), "out");
    store.delete_queued(id).await.unwrap();
    assert_eq!(store.check(true).unwrap().structures, 1, "the structure goes with the queued blob");
}

#[test]
fn the_check_reports_missing_wrong_and_orphaned_structures() {
    let dir = tempfile::tempdir().unwrap();
    let (blob, other) = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = open(dir.path());
            domain(&store, "example.com").await;
            let a = account(&store, "c@example.com").await;
            let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
            for n in 1..=2 {
                store.append(a.id, inbox.id, new_message(message(n)), QuotaLimit::default()).await.unwrap();
            }
            (BlobId::of(&message(1)), BlobId::of(&message(2)))
        })
    };
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let cf = db.cf_handle("structure").unwrap();
        db.delete_cf(cf, blob.0).unwrap();
        let wrong = parse_structure(b"Subject: not this one\r\n\r\n");
        let mut record = vec![1u8];
        record.extend(postcard::to_allocvec(&wrong).unwrap());
        db.put_cf(cf, other.0, record).unwrap();
        db.put_cf(cf, [0xee; 32], [1u8]).unwrap();
    }
    let store = open(dir.path());
    let report = store.check(true).unwrap();
    let problems: Vec<_> = report.findings.iter().map(|f| f.problem.as_str()).collect();
    assert!(problems.contains(&"no message structure record"), "{problems:?}");
    assert!(problems.contains(&"message structure does not match the content"), "{problems:?}");
    assert!(problems.contains(&"message structure without content"), "{problems:?}");
    assert_eq!(problems.len(), 3, "{problems:?}");
    // A FETCH is still served from the content.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let s = rt.block_on(store.structure(blob)).unwrap();
    assert_eq!(s.envelope.subject.as_ref().unwrap(), "message 1");
}

#[tokio::test]
async fn a_format_2_store_is_upgraded_with_message_structures() {
    let dir = tempfile::tempdir().unwrap();
    // Write a store, then turn it into exactly what format 2 looked like: no
    // `structure`, `acl`, `device` and `sync_state` column families, format
    // record 2. More blobs than one upgrade batch holds, a queued one among them.
    let (account_id, contents) = {
        let store = Arc::new(open(dir.path()));
        domain(&store, "example.com").await;
        let a = account(&store, "old@example.com").await;
        let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
        let mut contents: Vec<Bytes> = (0..1200).map(message).collect();
        contents.push(report());
        let mut tasks = tokio::task::JoinSet::new();
        for content in contents.clone() {
            let store = store.clone();
            tasks.spawn(async move {
                store.append(a.id, inbox.id, new_message(content), QuotaLimit::default()).await.unwrap()
            });
        }
        tasks.join_all().await;
        let queued = Bytes::from_static(b"Subject: queued\r\n\r\nx\r\n");
        store
            .enqueue(OutboundMessage {
                message_id: String::new(),
                from: String::new(),
                recipients: vec!["x@remote.example".into()],
                content: queued.clone(),
            })
            .await
            .unwrap();
        contents.push(queued);
        (a.id, contents)
    };
    let first = contents.iter().map(|c| BlobId::of(c)).min().unwrap();
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        db.drop_cf("structure").unwrap();
        db.drop_cf("acl").unwrap();
        db.drop_cf("device").unwrap();
        db.drop_cf("sync_state").unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"format", 2u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.blobs, report.structures, report.queued), (1202, 1202, 1));
    let inbox = store.folder_by_name(account_id, "INBOX").await.unwrap().unwrap();
    for m in store.messages(account_id, inbox.id).await.unwrap() {
        let content = store.content(m.blob).await.unwrap();
        assert_eq!(*store.structure(m.blob).await.unwrap(), parse_structure(&content));
    }
    drop(store);
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs.clone()).unwrap();
        let format = db.get_cf(db.cf_handle("meta").unwrap(), b"format").unwrap().unwrap();
        assert_eq!(format, axigen_store::FORMAT_VERSION.to_be_bytes());

        // An interrupted upgrade is resumed: format 2 again, with the first
        // blob's record already there, a record whose blob was deleted by
        // format-2 software, and the rest missing.
        let cf = db.cf_handle("structure").unwrap();
        let keep = db.get_cf(cf, first.0).unwrap().unwrap();
        for c in &contents {
            db.delete_cf(cf, BlobId::of(c).0).unwrap();
        }
        db.put_cf(cf, first.0, keep).unwrap();
        db.put_cf(cf, [0u8; 32], [1u8]).unwrap();
        db.put_cf(cf, [0xffu8; 32], [1u8]).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"format", 2u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.structures, 1202);
}

/// The FETCH 1:* ENVELOPE path over a 20,000-message mailbox: one structure
/// read per message, against parsing every message. Prints the timings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structure_reads_for_a_20000_message_mailbox() {
    const MESSAGES: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    domain(&store, "example.com").await;
    let a = account(&store, "big@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..MESSAGES {
        // Alternate plain messages and the multipart report, all distinct.
        let content = if n % 2 == 0 {
            message(n)
        } else {
            Bytes::from(REPORT.replace("<q1@", &format!("<q{n}@")).replace('\n', "\r\n"))
        };
        let store = store.clone();
        tasks.spawn(async move { store.append(a.id, inbox.id, new_message(content), QuotaLimit::default()).await });
        if tasks.len() >= 256 {
            tasks.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let appended = started.elapsed();

    let messages = store.messages(a.id, inbox.id).await.unwrap();
    assert_eq!(messages.len(), MESSAGES);
    let started = Instant::now();
    let mut subjects = 0;
    for m in &messages {
        let s = store.structure(m.blob).await.unwrap();
        subjects += usize::from(s.envelope.subject.is_some());
    }
    let from_records = started.elapsed();
    assert_eq!(subjects, MESSAGES);

    let started = Instant::now();
    for m in &messages {
        let content = store.content(m.blob).await.unwrap();
        std::hint::black_box(parse_structure(&content));
    }
    let by_parsing = started.elapsed();
    println!(
        "{MESSAGES} messages: appended in {appended:.2?}; structure() loop {from_records:.2?} ({:.1} us/message); \
         content() + parse_structure loop {by_parsing:.2?} ({:.1} us/message)",
        from_records.as_secs_f64() * 1e6 / MESSAGES as f64,
        by_parsing.as_secs_f64() * 1e6 / MESSAGES as f64,
    );
}
