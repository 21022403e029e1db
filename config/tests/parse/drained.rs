//! `upstreams.<name>.pools[].drained`: endpoints an operator took out of rotation.

use crate::support::{assert_single_error, errors, parse_ok, with_pools};

fn pool(region: &str, weight: u32, drained: &str) -> String {
    format!(
        "[[upstreams.api.pools]]\nregion = \"{region}\"\nweight = {weight}\n\
         endpoints = [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]\ndrained = [{drained}]\n"
    )
}

#[test]
fn drained_endpoints_are_read_and_default_to_none() {
    let config = parse_ok(&with_pools(&pool("us-east", 100, "\"127.0.0.1:9002\"")));
    let pool = &config.fleet.upstreams["api"].pools[0];
    assert_eq!(pool.drained, vec!["127.0.0.1:9002".parse().unwrap()]);
    let config = parse_ok(&with_pools(
        "[[upstreams.api.pools]]\nregion = \"r\"\nendpoints = [\"127.0.0.1:1\"]\n",
    ));
    assert!(config.fleet.upstreams["api"].pools[0].drained.is_empty());
}

#[test]
fn a_drained_endpoint_must_be_one_of_the_pools_and_listed_once() {
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"127.0.0.1:9009\"")),
        "upstreams.api.pools[0].drained[0]",
        "127.0.0.1:9009 is not one of this pool's endpoints",
    );
    assert_single_error(
        &with_pools(&pool(
            "us-east",
            100,
            "\"127.0.0.1:9001\", \"127.0.0.1:9001\"",
        )),
        "upstreams.api.pools[0].drained[1]",
        "127.0.0.1:9001 is listed twice",
    );
    let errors = errors(&with_pools(&pool("us-east", 100, "\"nope\", 3")));
    assert!(
        errors
            .iter()
            .all(|e| e.path.starts_with("upstreams.api.pools[0].drained[")),
        "{errors:#?}"
    );
}

#[test]
fn some_endpoint_of_a_weighted_pool_must_take_requests() {
    let both = "\"127.0.0.1:9001\", \"127.0.0.1:9002\"";
    assert_single_error(
        &with_pools(&pool("us-east", 100, both)),
        "upstreams.api.pools",
        "every endpoint of every pool above weight 0 is drained",
    );
    // Another weighted pool still takes requests; a drained pool at weight 0 does not count.
    parse_ok(&with_pools(
        &[pool("us-east", 100, both), pool("eu-west", 50, "")].concat(),
    ));
}
