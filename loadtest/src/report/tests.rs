//! The serialized `Report` against `loadtest/schema/report.schema.json`.

use serde_json::{Value, json};

use super::fixture;
use super::model::Report;

const SCHEMA_TEXT: &str = include_str!("../../schema/report.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA_TEXT).expect("the schema is valid JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("the schema compiles")
}

fn to_value(report: &Report) -> Value {
    serde_json::to_value(report).expect("a report serializes")
}

/// Every error for `report`, one per line, empty when valid.
fn errors(report: &Value) -> String {
    validator()
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
    jsonschema::meta::validate(&schema).expect("valid against the 2020-12 meta-schema");
}

#[test]
fn open_fixture_matches_the_schema() {
    let report = to_value(&fixture::open());
    assert_eq!(errors(&report), "");
    assert_eq!(report["config"]["model"], json!("open"));
    assert_eq!(report["phases"].as_array().map(Vec::len), Some(2));
}

#[test]
fn closed_fixture_matches_the_schema() {
    let report = to_value(&fixture::closed());
    assert_eq!(errors(&report), "");
    assert_eq!(report["config"]["model"], json!("closed"));
    assert_eq!(report["config"]["http"], json!("http2"));
    assert_eq!(report["summary"]["scheduled"], Value::Null);
    assert_eq!(report["timeline"][0]["scheduled"], Value::Null);
}

#[test]
fn empty_fixture_matches_the_schema() {
    assert_eq!(errors(&to_value(&fixture::empty())), "");
}

#[test]
fn schema_refuses_unknown_and_missing_fields() {
    let mut extra = to_value(&fixture::open());
    extra["summary"]["status"]["6xx"] = json!(1);
    assert!(
        !validator().is_valid(&extra),
        "unknown status class accepted"
    );

    let mut missing = to_value(&fixture::open());
    if let Some(second) = missing["timeline"][0].as_object_mut() {
        second.remove("p99_ms");
    }
    assert!(!validator().is_valid(&missing), "missing p99_ms accepted");
}

#[test]
fn schema_refuses_bad_enums_and_types() {
    for (pointer, bad) in [
        ("/config/model", json!("half-open")),
        ("/config/http", json!("http3")),
        ("/schema", json!("weir-loadtest/report/v0")),
        ("/summary/sent", json!(-1)),
        ("/summary/error_rate", json!(1.5)),
        ("/timeline/0/t", json!("0")),
    ] {
        let mut report = to_value(&fixture::open());
        if let Some(slot) = report.pointer_mut(pointer) {
            *slot = bad.clone();
        }
        assert!(!validator().is_valid(&report), "{pointer} = {bad} accepted");
    }
}
