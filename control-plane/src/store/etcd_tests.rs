//! The etcd store's own tests against a real etcd on loopback: two replicas racing on one base,
//! a commit through one replica reaching the other through its watch, etcd down (writes
//! `Unavailable`, reads from the last view, the watch catching up when it is back), and a file
//! store's history migrated.

use std::convert::Infallible;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use super::tests::{Harness, Kind};
use super::*;

fn change(config: &str, author: &str) -> Change {
    Change {
        config: config.into(),
        author: author.into(),
        message: format!("set {config}"),
        action: "replace".into(),
        drained: Drained::new(),
        detail: String::new(),
    }
}

fn commit(store: &Store, expected: Option<u64>, config: &str) -> Result<u64, String> {
    store
        .update(expected, SystemTime::now(), |_| {
            Ok::<_, Infallible>(Update::Commit(change(config, "alice")))
        })
        .map(|v| v.expect("committed").meta.version)
        .map_err(|e| e.to_string())
}

/// Waits up to 5 s for `store`'s current version to be `number`.
fn sees(store: &Store, number: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if store.current().is_some_and(|c| c.meta.version == number) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn eight_writers_on_two_replicas_on_one_base_one_wins() {
    let h = Harness::new(Kind::Etcd);
    let (a, _) = h.open();
    let (b, _) = h.open();
    commit(&a, Some(0), "base = 1\n").expect("base");
    assert!(sees(&b, 1));
    let replicas = [Arc::new(a), Arc::new(b)];
    for round in 0..5u64 {
        let base = replicas[0].current().expect("current").meta.version;
        assert!(sees(&replicas[1], base));
        let barrier = Arc::new(Barrier::new(8));
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier) = (Arc::clone(&replicas[i % 2]), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .update(Some(base), SystemTime::now(), |_| {
                            Ok::<_, Infallible>(Update::Commit(change(
                                &format!("writer = {i}\n"),
                                &format!("writer-{i}"),
                            )))
                        })
                        .map(|v| v.expect("committed").meta.version)
                })
            })
            .collect();
        let results: Vec<_> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        let won: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(won, vec![base + 1], "round {round}: exactly one wins");
        for result in &results {
            if let Err(error) = result {
                assert!(
                    matches!(error, UpdateError::Conflict { expected, current }
                        if *expected == base && *current == base + 1),
                    "round {round}: {error}"
                );
            }
        }
        for store in &replicas {
            assert!(
                sees(store, base + 1),
                "round {round}: both replicas see the winner"
            );
        }
    }
    // No gaps, no reuse: 1..=6, and each number's audit line once.
    let numbers: Vec<u64> = replicas[1]
        .list(usize::MAX, None)
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(numbers, vec![6, 5, 4, 3, 2, 1]);
    let audit: Vec<u64> = replicas[0]
        .audit(100)
        .expect("audit")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(audit, numbers);
}

#[test]
fn a_commit_on_one_replica_reaches_the_other_by_its_watch() {
    let h = Harness::new(Kind::Etcd);
    let (a, _) = h.open();
    let (b, _) = h.open();
    let mut remote_on_b = b.remote_versions();
    let mut remote_on_a = a.remote_versions();
    let mut delays = Vec::new();
    for n in 1..=50u64 {
        let started = Instant::now();
        // An unconditional write decides on etcd's current version, not on a stale view.
        let writer = if n % 2 == 0 { &a } else { &b };
        assert_eq!(commit(writer, None, &format!("n = {n}\n")), Ok(n));
        let committed = started.elapsed();
        let reader = if n % 2 == 0 {
            &mut remote_on_b
        } else {
            &mut remote_on_a
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if reader
                .borrow_and_update()
                .as_ref()
                .is_some_and(|v| v.meta.version == n)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "version {n} not seen by the other replica"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        delays.push(started.elapsed().saturating_sub(committed));
    }
    // Each replica's own commits never come back as another's.
    assert!(
        remote_on_a
            .borrow()
            .as_ref()
            .is_some_and(|v| v.meta.version % 2 == 1)
    );
    delays.sort();
    println!(
        "commit on one replica -> seen by the other's watch, 50 commits: p50 {:?} p99 {:?} max {:?}",
        delays[24], delays[48], delays[49]
    );
    assert_eq!(b.get(7).expect("get").expect("v7").config, "n = 7\n");
}

#[test]
fn with_etcd_down_writes_are_unavailable_and_reads_come_from_the_last_view() {
    let mut h = Harness::new(Kind::Etcd);
    let (store, _) = h.open();
    commit(&store, Some(0), "a = 1\n").expect("v1");
    commit(&store, Some(1), "a = 2\n").expect("v2");
    assert!(store.view().is_some_and(|v| v.connected));
    h.etcd.as_mut().expect("etcd").kill();
    let started = Instant::now();
    let refused = store.update(Some(2), SystemTime::now(), |_| {
        Ok::<_, Infallible>(Update::Commit(change("a = 3\n", "alice")))
    });
    assert!(
        matches!(&refused, Err(UpdateError::Io(e)) if e.is_unavailable()),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the timeout"
    );
    // Reads of the current version and the history answer from memory.
    assert_eq!(store.current().map(|c| c.meta.version), Some(2));
    assert_eq!(store.list(10, None).len(), 2);
    assert!(store.audit(10).is_err_and(|e| e.is_unavailable()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.view().is_some_and(|v| v.connected) {
        assert!(
            Instant::now() < deadline,
            "the view never noticed etcd gone"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.etcd.as_mut().expect("etcd").restart();
    // A second replica writes while the first's watch reconnects: the first catches up.
    let (other, _) = h.open();
    assert_eq!(commit(&other, Some(2), "a = 3\n"), Ok(3));
    assert!(sees(&store, 3), "the watch caught up after etcd came back");
    assert_eq!(commit(&store, Some(3), "a = 4\n"), Ok(4));
}

#[test]
fn migrate_copies_the_whole_history_and_refuses_a_second_time() {
    let h = Harness::new(Kind::Etcd);
    let files_dir = h.dir.path().join("files");
    {
        let (files, _) = Store::open(&files_dir).expect("open files");
        for n in 1..=5u64 {
            commit(&files, Some(n - 1), &format!("n = {n}\n")).expect("commit");
        }
        files
            .note(AuditEntry {
                time: record::rfc3339(SystemTime::now()),
                actor: "policy:rollout".into(),
                action: "rollout promote".into(),
                version: 5,
                message: "promoted".into(),
                detail: String::new(),
            })
            .expect("note");
        files
            .save_state("failover.json", b"{\"paused_all\":true}")
            .expect("state");
    }
    let copied = migrate::migrate(&files_dir, &h.options()).expect("migrate");
    assert_eq!(
        copied,
        migrate::Copied {
            versions: 5,
            audit_lines: 6,
            state_records: 1,
            current: 5
        }
    );
    let (etcd, _) = h.open();
    let (files, _) = Store::open(&files_dir).expect("open files");
    assert_eq!(etcd.list(100, None), files.list(100, None));
    for n in 1..=5 {
        assert_eq!(etcd.get(n).expect("get"), files.get(n).expect("get"));
    }
    assert_eq!(
        etcd.audit(100).expect("audit"),
        files.audit(100).expect("audit")
    );
    assert_eq!(
        etcd.load_state("failover.json").expect("state").as_deref(),
        Some(&b"{\"paused_all\":true}"[..])
    );
    // The history goes on from there, and its lines sort after the migrated ones.
    assert_eq!(commit(&etcd, Some(5), "n = 6\n"), Ok(6));
    let newest: Vec<u64> = etcd
        .audit(3)
        .expect("audit")
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(newest, vec![6, 5, 5]);
    drop(files);
    let again = migrate::migrate(&files_dir, &h.options()).expect_err("not empty");
    assert!(
        again.to_string().contains("already holds a history"),
        "{again}"
    );
}

#[test]
fn with_etcd_authentication_the_user_and_password_are_used_and_a_wrong_one_is_refused() {
    let h = Harness::new(Kind::Etcd);
    let url = h.etcd.as_ref().expect("etcd").url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = etcd_client::Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        client.user_add("root", "s3cret", None).await.expect("user");
        client.role_add("root").await.expect("role");
        client.user_grant_role("root", "root").await.expect("grant");
        client.auth_enable().await.expect("auth");
    });
    drop(runtime);
    let metrics = || StoreMetrics::unregistered().expect("metrics");
    let mut options = h.options();
    options.user = Some(("root".into(), "s3cret".into()));
    let store = Store::open_etcd(&options, metrics()).expect("open with the password");
    assert_eq!(commit(&store, Some(0), "a = 1\n"), Ok(1));
    options.user = Some(("root".into(), "wrong".into()));
    let refused = Store::open_etcd(&options, metrics()).expect_err("a wrong password");
    assert!(
        !refused.is_unavailable(),
        "a refusal, not an outage: {refused}"
    );
    options.user = None;
    let anonymous = Store::open_etcd(&options, metrics()).expect_err("no user");
    assert!(!anonymous.is_unavailable(), "{anonymous}");
}

#[test]
fn over_tls_the_ca_file_is_trusted_and_another_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = |name: &str| dir.path().join(name);
    let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    std::fs::write(pem("etcd.pem"), server.cert.pem()).expect("write");
    std::fs::write(pem("etcd-key.pem"), server.signing_key.serialize_pem()).expect("write");
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
    std::fs::write(pem("other.pem"), other.cert.pem()).expect("write");
    let etcd = weir_testkit::Etcd::start_tls(dir.path(), &pem("etcd.pem"), &pem("etcd-key.pem"));
    let mut options = EtcdOptions::new(vec![etcd.tls_url().expect("https")]);
    options.timeout = Duration::from_secs(2);
    options.ca_file = Some(pem("etcd.pem"));
    let metrics = || StoreMetrics::unregistered().expect("metrics");
    let store = Store::open_etcd(&options, metrics()).expect("open over TLS");
    assert_eq!(commit(&store, Some(0), "a = 1\n"), Ok(1));
    options.ca_file = Some(pem("other.pem"));
    assert!(
        Store::open_etcd(&options, metrics()).is_err(),
        "an untrusted certificate"
    );
    options.ca_file = Some(pem("missing.pem"));
    let missing = Store::open_etcd(&options, metrics()).expect_err("no CA file");
    assert!(missing.to_string().contains("missing.pem"), "{missing}");
}
