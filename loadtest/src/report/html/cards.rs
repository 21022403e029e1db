//! The key figures as cards at the top of the page: throughput, latency percentiles, error
//! rate, the rate asked for (or the concurrency) and the assertions passed.

use std::fmt::Write;

use super::escape::escape;
use crate::report::model::{Model, Report};
use crate::report::units;

/// One card of the key figures: a short `value` (a number) in large type, its `unit` after it
/// in small type, so a card never has to cut its figure.
struct Card {
    label: &'static str,
    value: String,
    unit: &'static str,
    note: String,
    class: &'static str,
}

pub(super) fn key_figures(out: &mut String, report: &Report) {
    out.push_str("<section class=\"cards\">");
    for card in cards(report) {
        let unit = if card.unit.is_empty() {
            String::new()
        } else {
            format!("<span class=\"unit\">{}</span>", escape(card.unit))
        };
        let _ = write!(
            out,
            "<div class=\"card {}\"><div class=\"label\">{}</div><div class=\"value\">{}{unit}</div><div class=\"note\">{}</div></div>",
            card.class,
            card.label,
            escape(&card.value),
            escape(&card.note)
        );
    }
    out.push_str("</section>");
}

fn cards(report: &Report) -> Vec<Card> {
    let sum = &report.summary;
    let mut cards = vec![Card {
        label: "Throughput",
        value: units::rate_short(round_rate(sum.throughput)),
        unit: "req/s",
        note: format!(
            "{} responses in {}",
            sum.completed,
            units::secs(sum.duration_s)
        ),
        class: "",
    }];
    for (p, label) in [
        (50.0, "p50 latency"),
        (99.0, "p99 latency"),
        (99.9, "p99.9 latency"),
    ] {
        cards.push(latency_card(report, p, label));
    }
    let ended = sum.completed.saturating_add(sum.failed);
    cards.push(Card {
        label: "Error rate",
        value: units::percent(sum.error_rate),
        unit: "",
        note: format!(
            "{} of {ended} ({})",
            sum.error_count,
            units::error_rule(report)
        ),
        class: severity(sum.error_rate),
    });
    cards.push(rate_card(report));
    if !report.assertions.is_empty() {
        let passed = report.assertions.iter().filter(|a| a.passed).count();
        let all = report.assertions.len();
        cards.push(Card {
            label: "Assertions",
            value: format!("{passed}/{all}"),
            unit: "passed",
            note: if passed == all {
                "all passed".to_owned()
            } else {
                format!("{} failed", all - passed)
            },
            class: if passed == all { "good" } else { "bad" },
        });
    }
    cards
}

/// A rate for a card: whole from 100/s up, one decimal below (the digits that mean something).
fn round_rate(r: f64) -> f64 {
    if r.abs() >= 100.0 {
        r.round()
    } else {
        (r * 10.0).round() / 10.0
    }
}

fn latency_card(report: &Report, p: f64, label: &'static str) -> Card {
    let corrected = units::percentile(&report.latency.corrected, p);
    let note = if units::shows_uncorrected(report) {
        let raw = units::latency_opt(units::percentile(&report.latency.uncorrected, p));
        format!("corrected; uncorrected {raw}")
    } else {
        "recorded latency".to_owned()
    };
    Card {
        label,
        value: units::latency_opt(corrected),
        unit: "",
        note,
        class: "",
    }
}

/// The rate the schedule asked for, as the phases asked for it (a range when they differ, with
/// each phase's rate in the note), and how much of it was achieved.
fn rate_card(report: &Report) -> Card {
    let sum = &report.summary;
    match (report.config.model, sum.target_rate) {
        (Model::Open, Some(target)) => {
            let achieved = if target > 0.0 {
                format!(
                    "achieved {:.1}% ({} req/s), sent {}/s",
                    sum.throughput * 100.0 / target,
                    units::rate_short(round_rate(sum.throughput)),
                    units::rate_short(round_rate(sum.sent_rate))
                )
            } else {
                format!("sent {}/s", units::rate_short(round_rate(sum.sent_rate)))
            };
            let (value, note) = if units::has_one_rate(report) {
                (units::rate_short(round_rate(target)), achieved)
            } else {
                let rates = report
                    .phases
                    .iter()
                    .flat_map(|p| [p.rate_from, p.rate_to])
                    .flatten()
                    .filter(|r| r.is_finite());
                let (low, high) = rates.fold((f64::INFINITY, 0.0_f64), |(lo, hi), r| {
                    (lo.min(r), hi.max(r))
                });
                let by_phase = units::schedule_rates(report).unwrap_or_default();
                (
                    format!("{}–{}", units::rate_short(low), units::rate_short(high)),
                    format!("{by_phase}; {achieved}"),
                )
            };
            Card {
                label: "Target rate",
                value,
                unit: "req/s",
                note,
                class: if target > 0.0 && sum.throughput < 0.95 * target {
                    "warn"
                } else {
                    ""
                },
            }
        }
        _ => Card {
            label: "Concurrency",
            value: report.config.concurrency.to_string(),
            unit: "",
            note: format!(
                "closed model; sent {}/s",
                units::rate_short(round_rate(sum.sent_rate))
            ),
            class: "",
        },
    }
}

/// `bad` from 1% errors, `warn` above 0.
pub(super) fn severity(error_rate: f64) -> &'static str {
    if error_rate >= 0.01 {
        "bad"
    } else if error_rate > 0.0 {
        "warn"
    } else {
        "good"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn cards_fit_their_figures() {
        // A card is about 140 px wide inside: its figure must be short enough for 22 px type
        // (the unit follows in small type), and the label for one line.
        for report in [fixture::open(), fixture::closed(), fixture::empty()] {
            for card in cards(&report) {
                assert!(
                    card.value.chars().count() <= 9,
                    "{}: {:?} is too long for a card",
                    card.label,
                    card.value
                );
                assert!(card.label.chars().count() <= 14, "{:?}", card.label);
            }
        }
    }

    #[test]
    fn the_rate_card_shows_the_rate_asked_for() {
        let mut report = fixture::open();
        report.phases.truncate(1);
        report.phases[0].rate_from = Some(380.0);
        report.phases[0].rate_to = Some(380.0);
        let card = rate_card(&report);
        assert_eq!((card.label, card.value.as_str()), ("Target rate", "380"));
        assert_eq!(card.note, "achieved 99.8% (379 req/s), sent 380/s");
    }
}
