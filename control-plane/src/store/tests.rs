//! Store tests: commits, conflicts and reopening on both stores (each such test runs twice, in
//! `files::` and in `etcd::`, the second against a real etcd on loopback), and the file store's
//! recovery from each kind of damage a crash (or a bad disk) can leave. The etcd store's own
//! tests (replicas, watch, etcd down, migration) are in `etcd_tests`.

use std::convert::Infallible;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::{self, file_name};
use super::*;

/// Which store a test runs on, and what it needs kept alive: a temp dir, and for etcd the etcd
/// process (killed when dropped).
pub(super) enum Kind {
    Files,
    Etcd,
}

pub(super) struct Harness {
    pub dir: tempfile::TempDir,
    pub etcd: Option<weir_testkit::Etcd>,
}

impl Harness {
    pub fn new(kind: Kind) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let etcd = match kind {
            Kind::Files => None,
            Kind::Etcd => Some(weir_testkit::Etcd::start(dir.path())),
        };
        Harness { dir, etcd }
    }

    pub fn options(&self) -> EtcdOptions {
        let etcd = self.etcd.as_ref().expect("an etcd harness");
        let mut options = EtcdOptions::new(vec![etcd.url()]);
        options.prefix = "/weir-test/".into();
        options.timeout = Duration::from_secs(2);
        options
    }

    /// Opens the store (a file store in `dir/data`); what recovery found (clean for etcd).
    pub fn open(&self) -> (Store, Recovery) {
        match &self.etcd {
            None => open(&self.dir.path().join("data")),
            Some(_) => {
                let metrics = StoreMetrics::unregistered().expect("metrics");
                let store = Store::open_etcd(&self.options(), metrics).expect("open etcd");
                let versions = store.list(usize::MAX, None).len();
                (
                    store,
                    Recovery {
                        versions,
                        ..Recovery::default()
                    },
                )
            }
        }
    }

    /// How many versions are stored, read from the storage itself (files, or etcd through a
    /// second store).
    pub fn stored(&self) -> usize {
        match &self.etcd {
            None => names(&self.dir.path().join("data").join("versions")).len(),
            Some(_) => self.open().0.list(usize::MAX, None).len(),
        }
    }
}

/// Runs each named test (a `fn(Kind)`) on the file store and on the etcd store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod files {
            $(#[test] fn $name() { super::$name(super::Kind::Files) })*
        }
        mod etcd {
            $(#[test] fn $name() { super::$name(super::Kind::Etcd) })*
        }
    };
}

on_both_stores!(
    commit_and_read_back,
    numbers_are_monotonic_and_listed_newest_first,
    stale_expected_is_a_conflict_and_decide_is_not_called,
    unchanged_and_rejected_write_nothing,
    read_modify_write_updates_do_not_interleave,
    reopen_sees_everything,
    state_records_round_trip,
    notes_sort_between_the_versions_around_them,
);

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn change(config: &str) -> Change {
    Change {
        config: config.into(),
        author: "alice".into(),
        message: format!("set {config}"),
        action: "replace".into(),
        drained: Drained::new(),
        detail: "1 change".into(),
    }
}

fn open(dir: &Path) -> (Store, Recovery) {
    Store::open(dir).expect("open")
}

/// Commits `config` unconditionally.
fn commit(store: &Store, config: &str) -> Arc<Version> {
    store
        .update(None, at(0), |_| {
            Ok::<_, Infallible>(Update::Commit(change(config)))
        })
        .expect("update")
        .expect("committed")
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn version_path(dir: &Path, number: u64) -> std::path::PathBuf {
    dir.join("versions").join(file_name(number))
}

fn numbers(store: &Store) -> Vec<u64> {
    store
        .list(usize::MAX, None)
        .iter()
        .map(|m| m.version)
        .collect()
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

fn commit_and_read_back(kind: Kind) {
    let h = Harness::new(kind);
    let (store, recovery) = h.open();
    assert!(recovery.is_clean());
    assert_eq!(recovery.versions, 0);
    assert!(store.current().is_none());
    let mut drained = Drained::new();
    drained
        .entry("us-east".into())
        .or_default()
        .insert("api".into(), 100);
    let stored = store
        .update(Some(0), at(5), |current| {
            assert!(current.is_none());
            Ok::<_, Infallible>(Update::Commit(Change {
                drained: drained.clone(),
                action: "drain".into(),
                detail: "us-east: 1 pool(s) to weight 0".into(),
                ..change("a = 1\n")
            }))
        })
        .expect("update")
        .expect("committed");
    let want = VersionMeta {
        version: 1,
        author: "alice".into(),
        message: "set a = 1\n".into(),
        time: "2023-11-14T22:13:25.000Z".into(),
        action: "drain".into(),
        checksum: weir_protocol::checksum("a = 1\n"),
        drained,
    };
    assert_eq!(stored.meta, want);
    assert_eq!(stored.config, "a = 1\n");
    assert_eq!(store.current().as_deref(), Some(&*stored));
    assert_eq!(store.get(1).expect("get"), Some(Version::clone(&stored)));
    assert_eq!(store.get(2).expect("get"), None);
    assert_eq!(store.get(0).expect("get"), None);
    let audit = store.audit(10).expect("audit");
    assert_eq!(
        audit,
        vec![AuditEntry {
            time: want.time.clone(),
            actor: "alice".into(),
            action: "drain".into(),
            version: 1,
            message: want.message.clone(),
            detail: "us-east: 1 pool(s) to weight 0".into(),
        }]
    );
    assert_eq!(h.stored(), 1);
}

fn numbers_are_monotonic_and_listed_newest_first(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    for n in 1..=5u64 {
        assert_eq!(commit(&store, &format!("n = {n}\n")).meta.version, n);
    }
    assert_eq!(numbers(&store), vec![5, 4, 3, 2, 1]);
    let page: Vec<u64> = store.list(2, Some(4)).iter().map(|m| m.version).collect();
    assert_eq!(page, vec![3, 2]);
    assert!(store.list(0, None).is_empty());
    assert!(store.list(10, Some(1)).is_empty());
    let old = store.get(2).expect("get").expect("version 2");
    assert_eq!(old.config, "n = 2\n");
    let audit: Vec<u64> = store
        .audit(3)
        .expect("audit")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(audit, vec![5, 4, 3]);
}

fn stale_expected_is_a_conflict_and_decide_is_not_called(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    commit(&store, "a = 1\n");
    for expected in [0, 2] {
        let result = store.update(Some(expected), at(1), |_| -> Result<Update, Infallible> {
            panic!("decide must not run on a conflict")
        });
        assert!(
            matches!(result, Err(UpdateError::Conflict { expected: e, current: 1 }) if e == expected)
        );
    }
    let ok = store
        .update(Some(1), at(1), |current| {
            assert_eq!(current.map(|c| c.meta.version), Some(1));
            Ok::<_, Infallible>(Update::Commit(change("a = 2\n")))
        })
        .expect("update");
    assert_eq!(ok.map(|v| v.meta.version), Some(2));
    assert_eq!(h.stored(), 2);
}

fn unchanged_and_rejected_write_nothing(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    commit(&store, "a = 1\n");
    let unchanged = store
        .update(Some(1), at(1), |_| Ok::<_, Infallible>(Update::Unchanged))
        .expect("update");
    assert!(unchanged.is_none());
    let rejected = store.update(None, at(1), |_| Err::<Update, _>("no pool left"));
    assert!(matches!(
        rejected,
        Err(UpdateError::Rejected("no pool left"))
    ));
    assert_eq!(store.current().map(|c| c.meta.version), Some(1));
    assert_eq!(h.stored(), 1);
    assert_eq!(store.audit(10).expect("audit").len(), 1);
    assert_eq!(commit(&store, "a = 2\n").meta.version, 2);
}

fn read_modify_write_updates_do_not_interleave(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    let store = Arc::new(store);
    commit(&store, "0");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..10 {
                    store
                        .update(None, at(1), |current| {
                            let n: u64 = current
                                .and_then(|c| c.config.parse().ok())
                                .ok_or("not a number")?;
                            Ok::<_, &str>(Update::Commit(change(&(n + 1).to_string())))
                        })
                        .expect("update");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    let current = store.current().expect("current");
    assert_eq!(current.config, "40");
    assert_eq!(current.meta.version, 41);
}

fn reopen_sees_everything(kind: Kind) {
    let h = Harness::new(kind);
    {
        let (store, _) = h.open();
        for n in 1..=3 {
            commit(&store, &format!("n = {n}\n"));
        }
    }
    let (store, recovery) = h.open();
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(recovery.versions, 3);
    let current = store.current().expect("current");
    assert_eq!(
        (current.meta.version, current.config.as_str()),
        (3, "n = 3\n")
    );
    assert_eq!(numbers(&store), vec![3, 2, 1]);
    assert_eq!(store.get(1).expect("get").expect("v1").config, "n = 1\n");
    assert_eq!(store.audit(10).expect("audit").len(), 3);
    assert_eq!(commit(&store, "n = 4\n").meta.version, 4);
}

fn state_records_round_trip(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    assert_eq!(store.load_state("failover.json").expect("load"), None);
    store
        .save_state("failover.json", b"{\"a\":1}")
        .expect("save");
    store
        .save_state("failover.json", b"{\"a\":2}")
        .expect("save");
    store.save_state("rollout.json", b"{}").expect("save");
    drop(store);
    let (store, _) = h.open();
    assert_eq!(
        store.load_state("failover.json").expect("load").as_deref(),
        Some(&b"{\"a\":2}"[..])
    );
    assert_eq!(
        store.load_state("rollout.json").expect("load").as_deref(),
        Some(&b"{}"[..])
    );
}

fn notes_sort_between_the_versions_around_them(kind: Kind) {
    let h = Harness::new(kind);
    let (store, _) = h.open();
    commit(&store, "a = 1\n");
    let note = |message: &str| AuditEntry {
        time: record::rfc3339(at(2)),
        actor: "policy:rollout".into(),
        action: "rollout promote".into(),
        version: 1,
        message: message.into(),
        detail: String::new(),
    };
    store.note(note("first")).expect("note");
    store.note(note("second")).expect("note");
    commit(&store, "a = 2\n");
    let got: Vec<(u64, String)> = store
        .audit(10)
        .expect("audit")
        .into_iter()
        .map(|e| (e.version, e.action))
        .collect();
    let want = [
        (2, "replace"),
        (1, "rollout promote"),
        (1, "rollout promote"),
        (1, "replace"),
    ];
    assert_eq!(
        got,
        want.map(|(v, a)| (v, a.to_string())).to_vec(),
        "newest first"
    );
    let messages: Vec<String> = store
        .audit(3)
        .expect("audit")
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(messages[1..], ["second".to_string(), "first".to_string()]);
}

#[test]
fn a_second_open_of_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Locked { .. })
    ));
    drop(store);
    open(dir.path());
}

#[test]
fn open_creates_missing_parents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b/store");
    let (store, _) = open(&nested);
    commit(&store, "x");
    assert!(nested.join("versions").join(file_name(1)).is_file());
    assert!(nested.join("audit.log").is_file());
}

#[test]
fn a_failed_write_leaves_the_previous_version_current() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    commit(&store, "a = 1\n");
    // Take the versions directory away: the write fails (this works as root, unlike chmod).
    let versions = dir.path().join("versions");
    let away = dir.path().join("away");
    fs::rename(&versions, &away).expect("rename");
    let failed = store.update(Some(1), at(1), |_| {
        Ok::<_, Infallible>(Update::Commit(change("a = 2\n")))
    });
    assert!(matches!(
        failed,
        Err(UpdateError::Io(StoreError::Io { .. }))
    ));
    fs::rename(&away, &versions).expect("rename back");
    assert_eq!(store.current().map(|c| c.meta.version), Some(1));
    assert_eq!(numbers(&store), vec![1]);
    assert_eq!(store.audit(10).expect("audit").len(), 1);
    assert_eq!(names(&versions), vec![file_name(1)]);
    assert_eq!(commit(&store, "a = 2\n").meta.version, 2);
    drop(store);
    let (store, recovery) = open(dir.path());
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(numbers(&store), vec![2, 1]);
}

#[test]
fn a_failed_audit_line_keeps_the_version_and_is_written_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    commit(&store, "a = 1\n");
    let audit_path = dir.path().join("audit.log");
    let writable = {
        let mut writer = store.files().writer.lock().expect("writer");
        writer
            .audit
            .replace_file(fs::File::open(&audit_path).expect("read-only"))
    };
    let v2 = commit(&store, "a = 2\n");
    assert_eq!(store.current().map(|c| c.meta.version), Some(2));
    assert_eq!(store.audit(10).expect("audit").len(), 1);
    store
        .files()
        .writer
        .lock()
        .expect("writer")
        .audit
        .replace_file(writable);
    commit(&store, "a = 3\n");
    let audit: Vec<(u64, String)> = store
        .audit(10)
        .expect("audit")
        .into_iter()
        .map(|e| (e.version, e.action))
        .collect();
    assert_eq!(
        audit,
        vec![
            (3, "replace".into()),
            (2, "replace".into()),
            (1, "replace".into())
        ]
    );
    assert_eq!(v2.meta.version, 2);
}

#[test]
fn recovers_from_a_leftover_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        commit(&store, "a = 1\n");
    }
    // What a crash between creating the temp file and renaming it leaves.
    let temp = dir
        .path()
        .join("versions")
        .join(format!(".{}.Xy12ab", file_name(2)));
    fs::write(&temp, "{\"meta\":").expect("write");
    let (store, recovery) = open(dir.path());
    assert_eq!(
        recovery,
        Recovery {
            temp_files_removed: 1,
            versions: 1,
            ..Recovery::default()
        }
    );
    assert!(!temp.exists());
    assert_eq!(commit(&store, "a = 2\n").meta.version, 2);
}

#[test]
fn a_truncated_highest_version_is_quarantined_and_its_number_not_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        for n in 1..=3 {
            commit(&store, &format!("n = {n}\n"));
        }
    }
    let path = version_path(dir.path(), 3);
    let bytes = fs::read(&path).expect("read");
    fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let (store, recovery) = open(dir.path());
    assert_eq!(
        recovery,
        Recovery {
            corrupt_versions: 1,
            versions: 2,
            ..Recovery::default()
        }
    );
    assert_eq!(store.current().map(|c| c.meta.version), Some(2));
    assert_eq!(store.get(3).expect("get"), None);
    let aside = dir
        .path()
        .join("versions")
        .join(format!("{}.corrupt", file_name(3)));
    assert_eq!(
        fs::read(&aside).expect("quarantined"),
        &bytes[..bytes.len() / 2]
    );
    // Version 3 may have reached gateways before the damage: the next version is 4.
    let conflict = store.update(Some(3), at(1), |_| {
        Ok::<_, Infallible>(Update::Commit(change("x")))
    });
    assert!(matches!(
        conflict,
        Err(UpdateError::Conflict {
            expected: 3,
            current: 2
        })
    ));
    let next = store
        .update(Some(2), at(1), |_| {
            Ok::<_, Infallible>(Update::Commit(change("n = 4\n")))
        })
        .expect("update")
        .expect("committed");
    assert_eq!(next.meta.version, 4);
    drop(store);
    let (store, recovery) = open(dir.path());
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(numbers(&store), vec![4, 2, 1]);
    assert!(aside.exists());
}

#[test]
fn a_garbage_middle_version_is_quarantined_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        for n in 1..=3 {
            commit(&store, &format!("n = {n}\n"));
        }
    }
    fs::write(version_path(dir.path(), 2), b"\0\0\0garbage").expect("write");
    let (store, recovery) = open(dir.path());
    assert_eq!(recovery.corrupt_versions, 1);
    assert_eq!(numbers(&store), vec![3, 1]);
    assert_eq!(store.current().expect("current").config, "n = 3\n");
    assert_eq!(store.get(1).expect("get").expect("v1").config, "n = 1\n");
    assert_eq!(commit(&store, "n = 4\n").meta.version, 4);
}

#[test]
fn checksum_or_number_mismatch_is_quarantined_without_replacing_an_earlier_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        commit(&store, "n = 1\n");
        commit(&store, "n = 2\n");
    }
    let versions = dir.path().join("versions");
    // Valid JSON, edited config: the checksum no longer matches.
    let mut v2: Version =
        serde_json::from_slice(&fs::read(version_path(dir.path(), 2)).expect("read")).expect("v2");
    v2.config = "n = 20\n".into();
    fs::write(
        version_path(dir.path(), 2),
        record::encode(&v2).expect("encode"),
    )
    .expect("write");
    // A copy of version 1 under number 3: names another version.
    fs::copy(version_path(dir.path(), 1), version_path(dir.path(), 3)).expect("copy");
    // An earlier quarantine of number 3 is kept.
    let earlier = versions.join(format!("{}.corrupt", file_name(3)));
    fs::write(&earlier, "earlier").expect("write");
    let (store, recovery) = open(dir.path());
    assert_eq!(recovery.corrupt_versions, 2);
    assert_eq!(numbers(&store), vec![1]);
    assert_eq!(fs::read_to_string(&earlier).expect("earlier"), "earlier");
    assert_eq!(
        names(&versions),
        vec![
            file_name(1),
            format!("{}.corrupt", file_name(2)),
            format!("{}.corrupt", file_name(3)),
            format!("{}.corrupt.1", file_name(3)),
        ]
    );
    assert_eq!(commit(&store, "n = 4\n").meta.version, 4);
}

#[test]
fn a_vanished_version_named_by_the_audit_log_keeps_its_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        commit(&store, "n = 1\n");
        commit(&store, "n = 2\n");
    }
    fs::remove_file(version_path(dir.path(), 2)).expect("remove");
    let (store, recovery) = open(dir.path());
    assert_eq!(recovery.versions, 1);
    assert_eq!(commit(&store, "n = 3\n").meta.version, 3);
}

#[test]
fn recovers_from_a_torn_audit_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        for n in 1..=3 {
            commit(&store, &format!("n = {n}\n"));
        }
    }
    // Cut the last line in the middle: version 3 is stored, its audit line torn.
    let audit_path = dir.path().join("audit.log");
    let text = fs::read_to_string(&audit_path).expect("read");
    let last_start = text[..text.len() - 1].rfind('\n').expect("two lines") + 1;
    fs::write(&audit_path, &text[..last_start + 10]).expect("write");
    let (store, recovery) = open(dir.path());
    assert_eq!(
        recovery,
        Recovery {
            audit_tail_cut: true,
            audit_repaired: 1,
            versions: 3,
            ..Recovery::default()
        }
    );
    let text = fs::read_to_string(&audit_path).expect("read");
    assert!(text.ends_with('\n'));
    let audit = store.audit(10).expect("audit");
    let got: Vec<(u64, &str)> = audit
        .iter()
        .map(|e| (e.version, e.action.as_str()))
        .collect();
    assert_eq!(got, vec![(3, "recovered"), (2, "replace"), (1, "replace")]);
    assert_eq!(audit[0].actor, "alice");
    assert!(
        audit[0]
            .detail
            .starts_with("replace at 2023-11-14T22:13:20.000Z")
    );
    drop(store);
    let (_, recovery) = open(dir.path());
    assert!(recovery.is_clean(), "{recovery:?}");
}

#[test]
fn recovers_a_version_whose_audit_line_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        for n in 1..=3 {
            commit(&store, &format!("n = {n}\n"));
        }
    }
    // A crash after the version file and before its audit line: drop the last two lines whole.
    let audit_path = dir.path().join("audit.log");
    let text = fs::read_to_string(&audit_path).expect("read");
    let first = text.find('\n').expect("line") + 1;
    fs::write(&audit_path, &text[..first]).expect("write");
    let (store, recovery) = open(dir.path());
    assert_eq!(recovery.audit_repaired, 2);
    assert!(!recovery.audit_tail_cut);
    let got: Vec<(u64, String)> = store
        .audit(10)
        .expect("audit")
        .into_iter()
        .map(|e| (e.version, e.action))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "recovered".into()),
            (2, "recovered".into()),
            (1, "replace".into())
        ]
    );
    // A lost audit log is rebuilt the same way.
    drop(store);
    fs::remove_file(&audit_path).expect("remove");
    let (store, recovery) = open(dir.path());
    assert_eq!(recovery.audit_repaired, 3);
    assert_eq!(store.audit(10).expect("audit").len(), 3);
    assert_eq!(commit(&store, "n = 4\n").meta.version, 4);
}
