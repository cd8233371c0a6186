//! The output parses with real Prometheus parsers: `promtool check metrics` for the classic
//! text format and the Python client's OpenMetrics parser for OpenMetrics. Both tools are
//! installed by `scripts/test.sh`; without them these tests fail saying which tool is missing,
//! never that the parser rejected our output.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Level, OPENMETRICS_ACCEPT, TESTED, TestDb, config_for, request, state_for};

fn run_with_stdin(program: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is missing ({e}): run the tests with scripts/test.sh, which installs it")
        });
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Names promtool's linter objects to that we keep on purpose: the CERN paper's metric names,
/// which existing dashboards use. Everything else it reports fails the test.
const PAPER_NAMES_PROMTOOL_DISLIKES: [&str; 1] = ["koji_enabled_hosts_count"];

pub fn promtool_verdict(text: &str) -> Result<(), String> {
    let output = run_with_stdin("promtool", &["check", "metrics"], text);
    let report = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    let only_known_lint = !report.trim().is_empty()
        && report
            .lines()
            .filter(|line| !line.trim().is_empty())
            .all(|line| PAPER_NAMES_PROMTOOL_DISLIKES.iter().any(|name| line.starts_with(&format!("{name} "))));
    if output.status.success() || only_known_lint { Ok(()) } else { Err(report) }
}

#[track_caller]
pub fn promtool_accepts(text: &str) {
    if let Err(report) = promtool_verdict(text) {
        panic!("promtool rejected the exposition:\n{report}\n{text}");
    }
}

const OPENMETRICS_CHECK: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(len(families), sum(len(f.samples) for f in families))
"#;

/// (families, samples) as the Python parser counted them, or its complaint.
pub fn openmetrics_verdict(text: &str) -> Result<(usize, usize), String> {
    let output = run_with_stdin("python3", &["-c", OPENMETRICS_CHECK], text);
    parser_installed(&output);
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let counts = String::from_utf8_lossy(&output.stdout);
    let mut numbers = counts.split_whitespace().map(|n| n.parse::<usize>().unwrap());
    Ok((numbers.next().unwrap(), numbers.next().unwrap()))
}

/// Fails the test, naming the missing package, when Python could not import the parser.
#[track_caller]
fn parser_installed(output: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client"),
        "the Python package prometheus-client is missing (not a fault of the exposition): run the tests with scripts/test.sh, or pip install prometheus-client"
    );
}

#[track_caller]
pub fn openmetrics_parser_accepts(text: &str) -> (usize, usize) {
    openmetrics_verdict(text)
        .unwrap_or_else(|report| panic!("the OpenMetrics parser rejected the exposition:\n{report}\n{text}"))
}

#[test]
fn the_parsers_reject_broken_exposition() {
    assert!(promtool_verdict("koji_x{a=\"b} 1\n").is_err());
    assert!(
        promtool_verdict("# TYPE koji_x_count gauge\nkoji_x_count 1\n").is_err(),
        "only the paper's names are excused"
    );
    assert!(openmetrics_verdict("# TYPE koji_x gauge\nkoji_x 1\n").is_err(), "OpenMetrics needs # EOF");
    assert!(openmetrics_verdict("# TYPE koji_x gauge\nkoji_x{a=\"b} 1\n# EOF\n").is_err());
}

#[tokio::test]
async fn both_formats_parse_with_real_parsers_on_every_schema() {
    for level in TESTED {
        let db = TestDb::with_fixture(level, "hosts_edge_cases").await;
        let state = state_for(&db.config());

        let text = request(&state, "GET", "/metrics", &[]).await.body;
        promtool_accepts(&text);

        let openmetrics = request(&state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await.body;
        let (families, samples) = openmetrics_parser_accepts(&openmetrics);
        let our_samples = openmetrics.lines().filter(|l| !l.starts_with('#')).count();
        let our_families = openmetrics.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!((families, samples), (our_families, our_samples), "{}", level.name());
    }
}

#[tokio::test]
async fn names_that_need_escaping_still_parse() {
    let db = TestDb::with_fixture(Level::V1_35, "hosts_edge_cases").await;
    db.exec(r#"update host set name = E'we"ird\\host\nname' where name = 'builder-a'"#).await;
    db.exec(r#"update channels set name = E'chan "quoted" \\ back' where name = 'default'"#).await;
    let state = state_for(&db.config());
    promtool_accepts(&request(&state, "GET", "/metrics", &[]).await.body);
    openmetrics_parser_accepts(&request(&state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await.body);
}

#[tokio::test]
async fn the_down_exposition_parses_too() {
    let state = state_for(&config_for("postgres://postgres@127.0.0.1:1/koji"));
    let text = request(&state, "GET", "/metrics", &[]).await.body;
    promtool_accepts(&text);
    assert!(text.contains("koji_up 0"), "{text}");
    openmetrics_parser_accepts(&request(&state, "GET", "/metrics", &[("accept", OPENMETRICS_ACCEPT)]).await.body);
}

/// Label values a hostile or broken database could hand the encoder.
fn hostile_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let nasty = prop::sample::select(vec![
        '"', '\\', '\n', '\r', '\t', '\0', '\u{1}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}',
        '\u{2029}', '\u{feff}', '\u{fffd}', 'é', '漢', '😀', '{', '}', '=', ',', '#', ' ', 'a', 'Z', '0',
    ]);
    prop_oneof![
        4 => prop::collection::vec(nasty, 0..24).prop_map(|chars| chars.into_iter().collect()),
        2 => any::<String>(),
        1 => Just(String::new()),
        1 => (0usize..20_000).prop_map(|n| "\\\"\n".repeat(n / 3)),
    ]
}

/// What the Python client parsed: (metric name, label value) pairs as JSON.
const OPENMETRICS_LABELS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        out.append([sample.name, sample.labels.get("value", "")])
print(json.dumps(out))
"#;

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(4))]

    /// A few hundred hostile label values per case, in a gauge, a counter and a histogram, fed
    /// to promtool (classic text) and to the Python OpenMetrics parser in one batch; the parser
    /// must give back exactly the values that went in.
    #[test]
    fn hostile_label_values_survive_both_real_parsers(values in proptest::collection::vec(hostile_value(), 300)) {
        use koji_exporter::exposition::{Format, HistogramSample, MetricFamily, encode};
        let mut gauge = MetricFamily::gauge("koji_fuzz_value", "Hostile label values");
        let mut counter = MetricFamily::counter("koji_fuzz_events", "Hostile label values");
        let mut histogram = MetricFamily::histogram("koji_fuzz_seconds", "Hostile label values");
        for (i, value) in values.iter().enumerate() {
            gauge.with([("value", value.as_str())], i as f64 - 150.5);
            counter.with([("value", value.as_str())], i as f64);
            histogram.histograms.push(HistogramSample {
                labels: vec![("value", value.clone())],
                bounds: &[1.0, 10.0],
                counts: vec![1, 0, 2],
                sum: 20.0,
            });
        }
        let families = vec![gauge, counter, histogram];
        let text = encode(families.clone(), Format::Text);
        promtool_accepts(&text);

        let openmetrics = encode(families, Format::OpenMetrics);
        let output = run_with_stdin("python3", &["-c", OPENMETRICS_LABELS], &openmetrics);
        parser_installed(&output);
        proptest::prop_assert!(
            output.status.success(),
            "the OpenMetrics parser rejected the exposition: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let parsed: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap();
        let distinct: std::collections::BTreeSet<&String> = values.iter().collect();
        let gauges: std::collections::BTreeSet<&String> =
            parsed.iter().filter(|(name, _)| name == "koji_fuzz_value").map(|(_, value)| value).collect();
        proptest::prop_assert_eq!(&gauges, &distinct, "label values changed on the way through");
        let per_name = |name: &str| parsed.iter().filter(|(sample, _)| sample == name).count();
        proptest::prop_assert_eq!(per_name("koji_fuzz_value"), distinct.len(), "one series per distinct value");
        proptest::prop_assert_eq!(per_name("koji_fuzz_events_total"), distinct.len());
        proptest::prop_assert_eq!(per_name("koji_fuzz_seconds_bucket"), 3 * distinct.len());
    }
}
