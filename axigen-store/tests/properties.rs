//! Property tests: random sequences of append / flag / copy / move / expunge
//! against a simple in-memory model. After every step the store must agree
//! with the model on UIDs, flags, counters and quota usage; MODSEQs must only
//! grow; and "changes since" must return exactly the model's change log.

mod common;

use std::collections::BTreeMap;

use axigen_core::mailstore::*;
use axigen_core::model::AccountId;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append { folder: usize, size: usize, seen: bool },
    Flag { folder: usize, pick: Vec<usize>, op: u8, flags: u8, keyword: bool },
    Copy { from: usize, pick: Vec<usize>, to: usize },
    Move { from: usize, pick: Vec<usize>, to: usize },
    Expunge { folder: usize, pick: Vec<usize> },
}

const FOLDERS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    let pick = proptest::collection::vec(0usize..16, 0..4);
    prop_oneof![
        4 => (0..FOLDERS, 0usize..400, any::<bool>()).prop_map(|(folder, size, seen)| Op::Append { folder, size, seen }),
        3 => (0..FOLDERS, pick.clone(), 0u8..3, 0u8..32, any::<bool>())
            .prop_map(|(folder, pick, op, flags, keyword)| Op::Flag { folder, pick, op, flags, keyword }),
        2 => (0..FOLDERS, pick.clone(), 0..FOLDERS).prop_map(|(from, pick, to)| Op::Copy { from, pick, to }),
        2 => (0..FOLDERS, pick.clone(), 0..FOLDERS).prop_map(|(from, pick, to)| Op::Move { from, pick, to }),
        2 => (0..FOLDERS, pick).prop_map(|(folder, pick)| Op::Expunge { folder, pick }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct ModelMsg {
    flags: Flags,
    keywords: Vec<String>,
    size: u64,
    content: usize,
}

#[derive(Default)]
struct Model {
    folders: Vec<(FolderId, BTreeMap<u32, ModelMsg>, u32)>, // id, uid -> msg, uid_next
    log: Vec<(FolderId, ChangeKind)>,
}

impl Model {
    fn pick(&self, folder: usize, pick: &[usize]) -> Vec<Uid> {
        let uids: Vec<u32> = self.folders[folder].1.keys().copied().collect();
        if uids.is_empty() {
            return pick.iter().map(|p| Uid(*p as u32 + 1000)).collect(); // unknown UIDs are ignored
        }
        pick.iter().map(|p| Uid(uids[p % uids.len()])).collect()
    }

    fn add(&mut self, folder: usize, m: ModelMsg) -> Uid {
        let (id, msgs, next) = &mut self.folders[folder];
        let uid = *next;
        *next += 1;
        msgs.insert(uid, m);
        let id = *id;
        self.log.push((id, ChangeKind::Added { uid: Uid(uid) }));
        Uid(uid)
    }

    fn remove(&mut self, folder: usize, uid: Uid) -> Option<ModelMsg> {
        let (id, msgs, _) = &mut self.folders[folder];
        let m = msgs.remove(&uid.0)?;
        let id = *id;
        self.log.push((id, ChangeKind::Expunged { uid }));
        Some(m)
    }
}

fn sorted_unique(mut v: Vec<Uid>) -> Vec<Uid> {
    v.sort();
    v.dedup();
    v
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    common::domain(&store, "example.com").await;
    let a: AccountId = common::account(&store, "p@example.com").await.id;
    // An unrelated account must never be touched.
    let other = common::account(&store, "other@example.com").await.id;
    let other_modseq = store.highest_modseq(other).await.unwrap();

    let mut model = Model::default();
    for (i, name) in ["INBOX", "A", "B/C"].iter().enumerate() {
        let f = match store.folder_by_name(a, name).await.unwrap() {
            Some(f) => f,
            None => store.create_folder(a, name, FolderKind::Mail, None).await.unwrap(),
        };
        model.folders.push((f.id, BTreeMap::new(), 1));
        assert_eq!(model.folders[i].0, f.id);
    }
    let base = store.highest_modseq(a).await.unwrap();
    let mut last_modseq = base;
    let mut checkpoints = vec![(base, 0usize)];

    for op in ops {
        match op {
            Op::Append { folder, size, seen } => {
                let flags = if seen { Flags::SEEN } else { Flags::empty() };
                let content = common::message(size);
                let r = store
                    .append(
                        a,
                        model.folders[folder].0,
                        NewMessage { flags, keywords: vec![], internal_date: 0, content: content.clone() },
                        QuotaLimit::default(),
                    )
                    .await
                    .unwrap();
                let uid =
                    model.add(folder, ModelMsg { flags, keywords: vec![], size: content.len() as u64, content: size });
                assert_eq!(r.uid, uid);
            }
            Op::Flag { folder, pick, op, flags, keyword } => {
                let uids = model.pick(folder, &pick);
                let fop = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][op as usize];
                let kw: Vec<String> = if keyword { vec!["$Label1".into()] } else { vec![] };
                let change = FlagChange { op: fop, flags: Flags(flags), keywords: kw.clone(), unchanged_since: None };
                let r = store.change_flags(a, model.folders[folder].0, &uids, &change).await.unwrap();
                let mut expected_changed = Vec::new();
                for uid in uids {
                    let fid = model.folders[folder].0;
                    let Some(m) = model.folders[folder].1.get_mut(&uid.0) else { continue };
                    let (nf, nk) = match fop {
                        FlagOp::Add => {
                            let mut k = m.keywords.clone();
                            for x in &kw {
                                if !k.contains(x) {
                                    k.push(x.clone());
                                }
                            }
                            k.sort();
                            (m.flags.union(Flags(flags)), k)
                        }
                        FlagOp::Remove => (
                            m.flags.without(Flags(flags)),
                            m.keywords.iter().filter(|k| !kw.contains(k)).cloned().collect(),
                        ),
                        FlagOp::Replace => (Flags(flags), kw.clone()),
                    };
                    if nf != m.flags || nk != m.keywords {
                        m.flags = nf;
                        m.keywords = nk;
                        model.log.push((fid, ChangeKind::Flags { uid }));
                        expected_changed.push(uid);
                    }
                }
                assert_eq!(r.changed.iter().map(|c| c.0).collect::<Vec<_>>(), expected_changed);
            }
            Op::Copy { from, pick, to } => {
                let uids = sorted_unique(model.pick(from, &pick));
                let r = store
                    .copy(a, model.folders[from].0, &uids, model.folders[to].0, QuotaLimit::default())
                    .await
                    .unwrap();
                let mut expected = Vec::new();
                for uid in uids {
                    let Some(m) = model.folders[from].1.get(&uid.0).cloned() else { continue };
                    expected.push((uid, model.add(to, m)));
                }
                assert_eq!(r.uids, expected);
            }
            Op::Move { from, pick, to } => {
                let uids = sorted_unique(model.pick(from, &pick));
                let r = store.move_messages(a, model.folders[from].0, &uids, model.folders[to].0).await.unwrap();
                let mut expected = Vec::new();
                for uid in uids {
                    let Some(m) = model.folders[from].1.get(&uid.0).cloned() else { continue };
                    let new_uid = model.add(to, m);
                    model.remove(from, uid);
                    expected.push((uid, new_uid));
                }
                assert_eq!(r.uids, expected);
            }
            Op::Expunge { folder, pick } => {
                let uids = sorted_unique(model.pick(folder, &pick));
                let r = store.expunge(a, model.folders[folder].0, &uids).await.unwrap();
                let expected: Vec<Uid> = uids.into_iter().filter(|u| model.remove(folder, *u).is_some()).collect();
                assert_eq!(r, expected);
            }
        }

        // Invariants after every step.
        let now = store.highest_modseq(a).await.unwrap();
        assert!(now >= last_modseq, "MODSEQ went back");
        assert_eq!(now.0 - base.0, model.log.len() as u64, "one MODSEQ per change");
        last_modseq = now;
        checkpoints.push((now, model.log.len()));
        let (mut bytes, mut count) = (0, 0);
        for (fid, msgs, next) in &model.folders {
            let info = store.folder(a, *fid).await.unwrap().unwrap();
            let stored = store.messages(a, *fid).await.unwrap();
            assert!(stored.windows(2).all(|w| w[0].uid < w[1].uid), "UIDs strictly increasing");
            assert_eq!(stored.iter().map(|m| m.uid.0).collect::<Vec<_>>(), msgs.keys().copied().collect::<Vec<_>>());
            for m in &stored {
                let mm = &msgs[&m.uid.0];
                assert_eq!((m.flags, &m.keywords, m.size), (mm.flags, &mm.keywords, mm.size));
                assert!(m.modseq <= info.highest_modseq);
            }
            assert_eq!(info.uid_next, Uid(*next));
            assert_eq!(info.messages as usize, msgs.len());
            assert_eq!(info.unseen as usize, msgs.values().filter(|m| !m.flags.contains(Flags::SEEN)).count());
            assert_eq!(info.size, msgs.values().map(|m| m.size).sum::<u64>());
            bytes += info.size;
            count += msgs.len() as u64;
        }
        let usage = store.quota_usage(a).await.unwrap();
        assert_eq!((usage.bytes, usage.messages), (bytes, count));
    }

    // "Changes since" is exact from every point in the history.
    for (mark, logged) in checkpoints {
        let changes = store.changes_since(a, mark).await.unwrap();
        let got: Vec<_> = changes.iter().map(|c| (c.folder, c.kind.clone())).collect();
        assert_eq!(got, model.log[logged..].to_vec());
        assert!(changes.windows(2).all(|w| w[0].modseq < w[1].modseq));
        assert!(changes.iter().all(|c| c.modseq > mark));
    }
    assert_eq!(store.highest_modseq(other).await.unwrap(), other_modseq);
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:#?}", report.findings);

    // And all of it survives a reopen.
    drop(store);
    let store = common::open(dir.path());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert_eq!(store.highest_modseq(a).await.unwrap(), last_modseq);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_the_store_consistent(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
