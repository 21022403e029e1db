//! A route's HTTPS rules (`redirect_https`, `https_port`, `hsts`) and a pool's `tls` and
//! `protocol`: defaults, every problem at its path, and what `diff` says of a change.

use weir_config::{HttpsRules, UpstreamProtocol, diff, parse};

use crate::support::{assert_single_error, errors, parse_ok, with_api_upstream, with_pools};

fn route(keys: &str) -> String {
    with_api_upstream(&format!("[[routes]]\nupstream = \"api\"\n{keys}\n"))
}

fn with_pool(keys: &str) -> String {
    with_pools(&format!(
        "[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9001\"]\n{keys}\n"
    ))
}

#[test]
fn https_rules_default_to_nothing() {
    let config = parse_ok(&route(""));
    assert_eq!(config.fleet.routes[0].https, HttpsRules::default());
    assert_eq!(HttpsRules::default().https_port, 443);
    let config = parse_ok(&route(
        "redirect_https = true\nhttps_port = 8443\nhsts = \" max-age=600 \"",
    ));
    let https = &config.fleet.routes[0].https;
    assert!(https.redirect_https);
    assert_eq!(https.https_port, 8443);
    assert_eq!(https.hsts.as_deref(), Some("max-age=600"), "trimmed");
}

#[test]
fn bad_https_rules_are_reported_at_their_keys() {
    let found = errors(&route(
        "https_port = 0\nhsts = \"includeSubDomains\"\nredirect_https = \"yes\"",
    ));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "routes[0].https_port",
            "routes[0].hsts",
            "routes[0].redirect_https"
        ],
        "{found:#?}"
    );
    assert!(found[1].message.contains("needs max-age"), "{}", found[1]);
    assert_single_error(
        &route("https_port = 65536"),
        "routes[0].https_port",
        "between 1 and 65535",
    );
}

#[test]
fn a_pool_speaks_h1_in_plain_text_by_default() {
    let config = parse_ok(&with_pool(""));
    let pool = &config.fleet.upstreams["api"].pools[0];
    assert_eq!(pool.tls, None);
    assert_eq!(pool.protocol, UpstreamProtocol::H1);
    let config = parse_ok(&with_pool("tls = {}\nprotocol = \"h2\""));
    let pool = &config.fleet.upstreams["api"].pools[0];
    let tls = pool.tls.as_ref().expect("tls");
    assert_eq!((tls.sni.as_deref(), tls.ca_file.as_deref()), (None, None));
    assert!(tls.verify, "verify is on unless turned off");
    assert_eq!(tls.client_cert, None);
    assert_eq!(pool.protocol, UpstreamProtocol::H2);
    let config = parse_ok(&with_pool(
        "tls = { sni = \"API.Internal\", verify = false }",
    ));
    let tls = config.fleet.upstreams["api"].pools[0]
        .tls
        .clone()
        .expect("tls");
    assert_eq!(
        tls.sni.as_deref(),
        Some("api.internal"),
        "stored lower-case"
    );
    assert!(!tls.verify);
}

#[test]
fn bad_pool_tls_is_reported_at_its_keys() {
    let at = "upstreams.api.pools[0]";
    assert_single_error(
        &with_pool("protocol = \"h3\""),
        &format!("{at}.protocol"),
        "h1",
    );
    assert_single_error(
        &with_pool("tls = { sni = \"api.internal:443\" }"),
        &format!("{at}.tls.sni"),
        "no port",
    );
    assert_single_error(
        &with_pool("tls = { ca_file = \"\" }"),
        &format!("{at}.tls.ca_file"),
        "file",
    );
    assert_single_error(
        &with_pool("tls = { cert = \"/c.pem\" }"),
        &format!("{at}.tls"),
        "cert needs its key",
    );
    assert_single_error(
        &with_pool("tls = { key = \"/k.pem\" }"),
        &format!("{at}.tls"),
        "key needs its cert",
    );
    assert_single_error(
        &with_pool("tls = { verfy = false }"),
        &format!("{at}.tls.verfy"),
        "unknown key",
    );
}

#[test]
fn the_diff_names_each_new_key() {
    let old = parse_ok(&with_pool(""));
    let new = parse_ok(&with_pool(
        "tls = { sni = \"api.internal\", cert = \"/c.pem\", key = \"/k.pem\" }\nprotocol = \"h2\"",
    ));
    assert_eq!(
        diff(&old, &new),
        [
            "upstreams.api.pools[us-east].tls: disabled -> enabled",
            "upstreams.api.pools[us-east].protocol: h1 -> h2",
        ]
    );
    let newer = parse(&with_pool(
        "tls = { sni = \"api2.internal\", cert = \"/c.pem\", key = \"/k.pem\" }\nprotocol = \"h2\"",
    ))
    .expect("valid");
    assert_eq!(
        diff(&new, &newer),
        ["upstreams.api.pools[us-east].tls.sni: api.internal -> api2.internal"]
    );
    let old = parse_ok(&route(""));
    let new = parse_ok(&route("redirect_https = true\nhsts = \"max-age=60\""));
    assert_eq!(
        diff(&old, &new),
        [
            "routes[*/].redirect_https: false -> true",
            "routes[*/].hsts: (none) -> max-age=60",
        ]
    );
}
