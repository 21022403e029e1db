//! Helpers shared by the parse tests: small config builders and error assertions.

use weir_config::{Config, ConfigError, parse};

/// One upstream `api` with one pool, and one route to it; `upstream_keys` go in `[upstreams.api]`.
pub fn with_upstream_keys(upstream_keys: &str) -> String {
    format!(
        "[upstreams.api]\n{upstream_keys}\n\
         [[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9001\"]\n\
         [[routes]]\nupstream = \"api\"\n"
    )
}

/// One upstream `api` whose pools are given as `[[upstreams.api.pools]]` text, and one route.
pub fn with_pools(pools: &str) -> String {
    format!("[upstreams.api]\n{pools}\n[[routes]]\nupstream = \"api\"\n")
}

/// One valid upstream `api`, followed by `rest` (routes, settings).
pub fn with_api_upstream(rest: &str) -> String {
    format!(
        "{rest}\n[upstreams.api]\n\
         [[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9001\"]\n"
    )
}

pub fn parse_ok(text: &str) -> Config {
    match parse(text) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid config, got:\n{errors}\n--- text:\n{text}"),
    }
}

pub fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text) {
        Ok(config) => panic!("expected errors, got a valid config: {config:#?}\n--- text:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// Asserts that `text` has exactly one problem, at `path`, whose message contains `message`.
pub fn assert_single_error(text: &str, path: &str, message: &str) -> ConfigError {
    let errors = errors(text);
    let [error] = errors.as_slice() else {
        panic!("expected exactly one error, got {errors:#?}\n--- text:\n{text}");
    };
    assert_eq!(error.path, path, "{error}");
    assert!(
        error.message.contains(message),
        "message {:?} should contain {message:?}",
        error.message
    );
    error.clone()
}

/// One policy `per-client` whose keys are `policy_keys`, used by one route to upstream `api`.
/// `[rate_limits.per-client]` is line 1, so `policy_keys` start on line 2.
pub fn with_policy_keys(policy_keys: &str) -> String {
    with_api_upstream(&format!(
        "[rate_limits.per-client]\n{policy_keys}\n\
         [[routes]]\nupstream = \"api\"\nrate_limits = [\"per-client\"]\n"
    ))
}

/// Like `assert_single_error`, and checks that the problem is placed at `line` and `column`.
pub fn assert_single_error_at(
    text: &str,
    path: &str,
    message: &str,
    (line, column): (usize, usize),
) -> ConfigError {
    let error = assert_single_error(text, path, message);
    assert_eq!(
        (error.line, error.column),
        (Some(line), Some(column)),
        "{error}\n--- text:\n{text}"
    );
    error
}
