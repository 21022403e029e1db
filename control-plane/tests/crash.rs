//! Crash safety: SIGKILL the control plane while writers commit in a loop, many times; after each
//! restart every acknowledged version is present and intact, and nothing torn is served.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{ADMIN, ControlPlane, READ};

fn fleet(n: u64) -> String {
    format!(
        "# write {n}\n[upstreams.app]\n[[upstreams.app.pools]]\nregion = \"us-east\"\n\
         endpoints = [\"127.0.0.1:9001\"]\n\n[[routes]]\nname = \"all\"\npath_prefix = \"/\"\n\
         upstream = \"app\"\n\n[load_shedding]\nmax_in_flight = {}\n",
        1000 + n
    )
}

#[test]
fn sigkill_during_commits_never_loses_or_tears_an_acknowledged_version() {
    let mut cp = ControlPlane::start();
    // version -> the text whose 201 named it
    let acknowledged: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let mut counter = 0u64;
    for round in 0..12 {
        let stop = Arc::new(AtomicBool::new(false));
        let url = cp.url();
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (stop, acknowledged, url) =
                    (Arc::clone(&stop), Arc::clone(&acknowledged), url.clone());
                let start = counter + w * 100_000;
                std::thread::spawn(move || {
                    let agent = support::agent();
                    let mut n = start;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let text = fleet(n);
                        let sent = agent
                            .put(format!("{url}/v1/config"))
                            .header("authorization", format!("Bearer {ADMIN}"))
                            .header("content-type", "application/toml")
                            .send(text.as_str());
                        // A killed server answers nothing: that write is simply not acknowledged.
                        let Ok(mut resp) = sent else { continue };
                        if resp.status() == 201 {
                            let json: serde_json::Value = resp.body_mut().read_json().unwrap();
                            let version = json["version"].as_u64().unwrap();
                            acknowledged.lock().unwrap().push((version, text));
                        }
                    }
                })
            })
            .collect();
        counter += 1000;
        std::thread::sleep(Duration::from_millis(150 + 37 * (round % 5)));
        cp.kill();
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().unwrap();
        }
        cp.restart();

        let acked = acknowledged.lock().unwrap().clone();
        let highest = acked.iter().map(|(v, _)| *v).max().unwrap_or(0);
        let current = cp.get("/v1/config", READ);
        if highest > 0 {
            assert_eq!(current.status, 200, "round {round}: {}", current.body);
            let json = current.json();
            assert!(
                json["version"].as_u64().unwrap() >= highest,
                "round {round}"
            );
            let config = json["config"].as_str().unwrap();
            assert_eq!(
                json["checksum"],
                support::sha256(config),
                "round {round}: torn current"
            );
        }
        for (version, text) in &acked {
            let resp = cp.get(&format!("/v1/versions/{version}"), READ);
            assert_eq!(
                resp.status, 200,
                "round {round}: acknowledged version {version} lost"
            );
            let json = resp.json();
            assert_eq!(
                json["config"].as_str().unwrap(),
                text,
                "version {version} changed"
            );
            assert_eq!(json["checksum"], support::sha256(text));
        }
        // Numbers stay dense and increasing: no version was reused for different content.
        let history = cp.get("/v1/versions?limit=1000", READ).json();
        let numbers: Vec<u64> = history["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] > w[1]), "{numbers:?}");
        let audit = cp.get("/v1/audit?limit=1000", READ);
        assert_eq!(audit.status, 200, "round {round}: {}", audit.body);
    }
    let acked = acknowledged.lock().unwrap().len();
    assert!(
        acked >= 20,
        "too few writes acknowledged to mean anything: {acked}"
    );
    eprintln!("{acked} acknowledged versions survived 12 SIGKILLs");
}
