//! Rules for `[[tls.acme]]` and `tls.acme_state_dir`: names that are DNS names without a
//! wildcard (HTTP-01 cannot prove one) and in one order only, an `https://` directory, `mailto:`
//! contacts, and a state directory (required unless `control_plane.cache_path` gives a place).
//! A name may also be covered by a `[[tls.certificates]]` file: the file's certificate is
//! served for it (an exact file name wins), so ordering it only wastes an order.

use std::path::{Path, PathBuf};

use super::control_plane::normalize_url;
use super::tls::check_server_name;
use crate::document::{At, join_index};
use crate::model::AcmeSettings;
use crate::raw::{RawAcme, RawTls};
use crate::report::Reporter;

pub(super) fn validate_acme(
    raw: Option<&At<Vec<Option<RawAcme>>>>,
    report: &mut Reporter<'_>,
) -> Vec<AcmeSettings> {
    let Some(list) = raw else {
        return Vec::new();
    };
    if list.value.is_empty() {
        report.error(
            "tls.acme",
            Some(&list.span),
            "must hold at least one order (leave it out for no ACME)",
        );
    }
    // Every name with the order that took it first: a name is ordered once.
    let mut taken: Vec<(String, String)> = Vec::new();
    let mut orders = Vec::new();
    for (index, raw) in list.value.iter().enumerate() {
        let Some(raw) = raw else { continue };
        let path = join_index("tls.acme", index);
        let names = validate_names(raw, &path, &mut taken, report);
        let directory = raw
            .directory
            .as_ref()
            .map(|directory| validate_directory(directory, &format!("{path}.directory"), report))
            .unwrap_or_default();
        let mut contact = Vec::new();
        for (i, item) in raw
            .contact
            .iter()
            .flat_map(|list| list.value.iter())
            .enumerate()
        {
            let Some(item) = item else { continue };
            let value = item.value.trim();
            let address = value.strip_prefix("mailto:").unwrap_or_default();
            let (user, domain) = address.split_once('@').unwrap_or_default();
            if user.is_empty() || domain.is_empty() || value.contains(char::is_whitespace) {
                report.error(
                    join_index(&format!("{path}.contact"), i),
                    Some(&item.span),
                    format!("must be a mailto: URL like \"mailto:ops@example.com\", got {value:?}"),
                );
            } else {
                contact.push(value.to_owned());
            }
        }
        let ca_file = raw.ca_file.as_ref().and_then(|file| {
            if file.value.trim().is_empty() {
                report.error(
                    format!("{path}.ca_file"),
                    Some(&file.span),
                    "must not be empty",
                );
                return None;
            }
            Some(PathBuf::from(&file.value))
        });
        orders.push(AcmeSettings {
            names,
            directory,
            contact,
            ca_file,
        });
    }
    orders
}

fn validate_names(
    raw: &RawAcme,
    path: &str,
    taken: &mut Vec<(String, String)>,
    report: &mut Reporter<'_>,
) -> Vec<String> {
    let Some(list) = &raw.names else {
        return Vec::new();
    };
    let names_path = format!("{path}.names");
    if list.value.is_empty() {
        report.error(&names_path, Some(&list.span), "must list at least one name");
    }
    let mut names = Vec::new();
    for (index, name) in list.value.iter().enumerate() {
        let Some(name) = name else { continue };
        let at = join_index(&names_path, index);
        let lower = name.value.trim().to_ascii_lowercase();
        if lower.starts_with("*.") {
            report.error(
                at,
                Some(&name.span),
                format!("{lower:?}: a wildcard cannot be ordered with HTTP-01 (list each name)"),
            );
            continue;
        }
        if let Err(message) = check_server_name(&lower) {
            report.error(at, Some(&name.span), message);
            continue;
        }
        match taken.iter().find(|(taken, _)| *taken == lower) {
            Some((_, first)) => report.error(
                at,
                Some(&name.span),
                format!("{lower:?} is already ordered at {first}"),
            ),
            None => {
                taken.push((lower.clone(), names_path.clone()));
                names.push(lower);
            }
        }
    }
    names
}

fn validate_directory(directory: &At<String>, path: &str, report: &mut Reporter<'_>) -> String {
    let text = directory.value.trim();
    let problem = match normalize_url(text) {
        Ok(_) if !text.to_ascii_lowercase().starts_with("https://") => {
            "must be an https:// URL (RFC 8555 speaks HTTPS only)".to_owned()
        }
        Ok(_) => return text.to_owned(),
        Err(problem) => problem,
    };
    report.error(
        path,
        Some(&directory.span),
        format!("{problem}, got {text:?}"),
    );
    String::new()
}

/// `tls.acme_state_dir`, or `acme/` beside `control_plane.cache_path`; empty without ACME.
pub(super) fn validate_state_dir(
    raw: &RawTls,
    cache_path: Option<&Path>,
    report: &mut Reporter<'_>,
) -> PathBuf {
    let wanted = raw.acme.is_some();
    match &raw.acme_state_dir {
        Some(dir) if dir.value.trim().is_empty() => {
            report.error("tls.acme_state_dir", Some(&dir.span), "must not be empty");
            PathBuf::new()
        }
        Some(dir) if !wanted => {
            report.error(
                "tls.acme_state_dir",
                Some(&dir.span),
                "is only used with [[tls.acme]]",
            );
            PathBuf::new()
        }
        Some(dir) => PathBuf::from(&dir.value),
        None if !wanted => PathBuf::new(),
        None => match cache_path.and_then(Path::parent) {
            Some(parent) => parent.join("acme"),
            None => {
                report.error(
                    "tls.acme_state_dir",
                    None,
                    "missing required key with [[tls.acme]] (where the account key and \
                     certificates are kept; defaults beside control_plane.cache_path)",
                );
                PathBuf::new()
            }
        },
    }
}
