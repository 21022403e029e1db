//! Reading Prometheus text exposition.

/// Sum of every sample of metric `name` whose labels include all of `labels` (each
/// `key="value"`). Samples of other metrics whose names start with `name` (`name_bucket`, …) do
/// not count.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| labels.iter().all(|want| line.contains(want)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP weir_requests_total Requests.\n\
        weir_requests_total{route=\"a\",status=\"200\"} 3\n\
        weir_requests_total{route=\"b\",status=\"200\"} 4\n\
        weir_requests_total_extra 100\n\
        weir_up 1\n";

    #[test]
    fn sums_the_samples_with_every_label_asked() {
        assert_eq!(metric_sum(TEXT, "weir_requests_total", &[]), 7.0);
        assert_eq!(
            metric_sum(TEXT, "weir_requests_total", &["route=\"b\""]),
            4.0
        );
        assert_eq!(metric_sum(TEXT, "weir_up", &[]), 1.0);
        assert_eq!(metric_sum(TEXT, "weir_missing", &[]), 0.0);
    }
}
