//! `diff(a, b)` is empty exactly when `a == b` (up to the order of routes and of pools, which
//! `diff` does not compare), over mutated copies of the full examples.

use weir_config::{Config, diff, parse_fleet, restart_required};

use crate::example::FULL_EXAMPLE;
use crate::mutate::Mutate;
use crate::support::parse_ok;

/// The configs mutated: the tests' full example, the full example of `docs/config.md` and the
/// local demo's fleet config.
fn bases() -> Vec<(&'static str, Config)> {
    let docs = include_str!("../../../docs/config.md");
    let docs_example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("# Full example"))
        .and_then(|block| block.split_once("```"))
        .map(|(block, _)| block)
        .expect("docs/config.md has a block starting with `# Full example`");
    let demo = parse_fleet(include_str!("../../../deploy/local/fleet.toml"))
        .expect("the demo's fleet config is valid");
    vec![
        ("the tests' full example", parse_ok(FULL_EXAMPLE)),
        ("the full example of docs/config.md", parse_ok(docs_example)),
        ("deploy/local/fleet.toml", demo),
        (
            "the tests' full example with the dns example",
            parse_ok(&format!("{FULL_EXAMPLE}\n{}", crate::dns::DNS_EXAMPLE)),
        ),
    ]
}

/// `config` with its routes sorted by name and its pools by region: what `diff` compares.
fn in_diff_order(config: &Config) -> Config {
    let mut config = config.clone();
    config.fleet.routes.sort_by(|a, b| a.name.cmp(&b.name));
    for upstream in config.fleet.upstreams.values_mut() {
        upstream.pools.sort_by(|a, b| a.region.cmp(&b.region));
    }
    config
}

/// `config` with its routes and each upstream's pools in reverse order.
fn reversed(config: &Config) -> Config {
    let mut config = config.clone();
    config.fleet.routes.reverse();
    for upstream in config.fleet.upstreams.values_mut() {
        upstream.pools.reverse();
    }
    config
}

/// SplitMix64: a small deterministic generator, so that a failure replays the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n")
    }
}

#[test]
fn every_single_change_is_in_the_diff() {
    for (name, base) in bases() {
        assert!(diff(&base, &base.clone()).is_empty(), "{name}");
        let variants = base.variants();
        assert!(variants.len() > 100, "{name}: {} variants", variants.len());
        for (what, variant) in &variants {
            assert_ne!(variant, &base, "{name}: {what} changes nothing");
            assert!(
                !diff(&base, variant).is_empty(),
                "{name}: {what} not diffed"
            );
            assert!(
                !diff(variant, &base).is_empty(),
                "{name}: undoing {what} not diffed"
            );
        }
    }
}

/// `restart_required` sees a change in one of its keys, and only there.
#[test]
fn only_a_change_of_a_restart_key_needs_a_restart() {
    const RESTART_KEYS: [&str; 11] = [
        // Also `listen.https` and `listen.http2`.
        "node.listen.http",
        "node.listen.h2c",
        // `[tls]` coming or going, its versions and ALPN (its certificates apply live), its
        // ACME orders and their state directory (`acme_state_dir` too, by prefix).
        "node.tls: ",
        "node.tls.min_version",
        "node.tls.alpn",
        "node.tls.acme",
        "node.admin.listen",
        "node.access_log.path",
        "node.access_log.enabled",
        "node.gateway.id",
        "node.control_plane",
    ];
    for (name, base) in bases() {
        for (what, variant) in base.variants() {
            let expected = RESTART_KEYS.iter().any(|key| what.starts_with(key));
            let restart = restart_required(&base, &variant);
            assert_eq!(!restart.is_empty(), expected, "{name}: {what}: {restart:?}");
            assert_eq!(restart, restart_required(&variant, &base), "{name}: {what}");
        }
    }
}

#[test]
fn the_diff_is_empty_exactly_when_the_configs_are_equal() {
    const SEED: u64 = 14;
    const WALKS: usize = 40;
    const MAX_STEPS: usize = 4;
    let mut rng = Rng(SEED);
    for (name, base) in bases() {
        // Random walks of one to MAX_STEPS changes from the base (some undo others), each also
        // with its routes and pools reversed.
        let mut configs = vec![
            ("the base".to_owned(), base.clone()),
            ("the base reversed".to_owned(), reversed(&base)),
        ];
        for _ in 0..WALKS {
            let mut config = base.clone();
            let mut steps = Vec::new();
            for _ in 0..=rng.below(MAX_STEPS) {
                let mut variants = config.variants();
                let (what, next) = variants.swap_remove(rng.below(variants.len()));
                steps.push(what);
                config = next;
            }
            let steps = steps.join(", then ");
            configs.push((format!("{steps}, reversed"), reversed(&config)));
            configs.push((steps, config));
        }
        let sorted: Vec<Config> = configs
            .iter()
            .map(|(_, config)| in_diff_order(config))
            .collect();
        let (mut equal, mut reordered) = (0, 0);
        for ((a_is, a), sorted_a) in configs.iter().zip(&sorted) {
            for ((b_is, b), sorted_b) in configs.iter().zip(&sorted) {
                let same = sorted_a == sorted_b;
                let changes = diff(a, b);
                assert_eq!(
                    changes.is_empty(),
                    same,
                    "{name}, from ({a_is}) to ({b_is}): {changes:#?}"
                );
                equal += usize::from(same);
                reordered += usize::from(same && a != b);
            }
        }
        // Beside each config with itself: its reversed copy.
        assert!(
            equal > configs.len() && reordered > 0,
            "{name}: {equal}, {reordered}"
        );
    }
}
