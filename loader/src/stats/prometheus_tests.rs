//! The renderings of `prometheus.rs`, checked as whole texts.

use super::*;
use crate::stats::counters::test_samples::sample;

const PACKETS_HELP: &str = "Packets the XDP program returned this action for (the stats map's rx_packets), summed over the possible CPUs unless labelled with a cpu.";
const BYTES_HELP: &str = "Bytes of the frames the XDP program returned this action for, Ethernet header included (the stats map's rx_bytes), summed over the possible CPUs unless labelled with a cpu.";
const PROGRAM_HELP: &str = "The XDP program attached to an interface: its kernel id and name, and the attach mode (generic, drv or offload). Always 1.";
const DURATION_HELP: &str =
    "Seconds this scrape took to read the stats map and the interfaces' XDP programs.";

fn programs() -> Vec<ProgramInfo> {
    vec![ProgramInfo {
        ifname: "veth1".to_string(),
        prog_id: 42,
        prog_name: "xdp_skeleton".to_string(),
        mode: "generic".to_string(),
    }]
}

fn rendered(percpu: Option<&[u32]>, format: Format) -> String {
    let sample = sample(7, 0.0, [(6, 588), (5, 490)]);
    let programs = programs();
    let scrape = Scrape {
        sample: &sample,
        percpu,
        programs: &programs,
        duration: 0.00025,
    };
    let mut out = String::from("left over from the scrape before");
    render(&scrape, format, &mut out);
    out
}

fn summed_series(family: &str, pass: u64) -> String {
    [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .iter()
    .map(|action| {
        let value = if *action == "XDP_PASS" { pass } else { 0 };
        format!("{family}_total{{action=\"{action}\",map=\"stats_map\"}} {value}\n")
    })
    .collect()
}

#[test]
fn the_text_format_sums_over_cpus() {
    let expected = format!(
        "# HELP xdp_action_packets_total {PACKETS_HELP}\n\
         # TYPE xdp_action_packets_total counter\n\
         {}\
         # HELP xdp_action_bytes_total {BYTES_HELP}\n\
         # TYPE xdp_action_bytes_total counter\n\
         {}\
         # HELP xdp_program_info {PROGRAM_HELP}\n\
         # TYPE xdp_program_info gauge\n\
         xdp_program_info{{ifname=\"veth1\",prog_id=\"42\",prog_name=\"xdp_skeleton\",mode=\"generic\"}} 1\n\
         # HELP xdp_scrape_duration_seconds {DURATION_HELP}\n\
         # TYPE xdp_scrape_duration_seconds gauge\n\
         xdp_scrape_duration_seconds 0.00025\n",
        summed_series("xdp_action_packets", 11),
        summed_series("xdp_action_bytes", 1078),
    );
    assert_eq!(rendered(None, Format::Text), expected);
}

#[test]
fn openmetrics_names_families_without_total_and_ends_in_eof() {
    let expected = format!(
        "# TYPE xdp_action_packets counter\n\
         # HELP xdp_action_packets {PACKETS_HELP}\n\
         {}\
         # TYPE xdp_action_bytes counter\n\
         # UNIT xdp_action_bytes bytes\n\
         # HELP xdp_action_bytes {BYTES_HELP}\n\
         {}\
         # TYPE xdp_program info\n\
         # HELP xdp_program {PROGRAM_HELP}\n\
         xdp_program_info{{ifname=\"veth1\",prog_id=\"42\",prog_name=\"xdp_skeleton\",mode=\"generic\"}} 1\n\
         # TYPE xdp_scrape_duration_seconds gauge\n\
         # UNIT xdp_scrape_duration_seconds seconds\n\
         # HELP xdp_scrape_duration_seconds {DURATION_HELP}\n\
         xdp_scrape_duration_seconds 0.00025\n\
         # EOF\n",
        summed_series("xdp_action_packets", 11),
        summed_series("xdp_action_bytes", 1078),
    );
    assert_eq!(rendered(None, Format::OpenMetrics), expected);
}

#[test]
fn percpu_gives_a_series_per_cpu_with_a_cpu_label() {
    let text = rendered(Some(&[0, 3]), Format::Text);
    let packets: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("xdp_action_packets_total{"))
        .collect();
    assert_eq!(packets.len(), 10, "{text}");
    assert_eq!(
        &packets[4..6],
        [
            "xdp_action_packets_total{action=\"XDP_PASS\",cpu=\"0\",map=\"stats_map\"} 6",
            "xdp_action_packets_total{action=\"XDP_PASS\",cpu=\"3\",map=\"stats_map\"} 5",
        ]
    );
    assert!(text
        .contains("xdp_action_bytes_total{action=\"XDP_PASS\",cpu=\"3\",map=\"stats_map\"} 490\n"));
    assert!(!text.contains("map=\"stats_map\"} 11\n"), "no sum: {text}");
    let openmetrics = rendered(Some(&[0, 3]), Format::OpenMetrics);
    assert!(openmetrics
        .contains("xdp_action_packets_total{action=\"XDP_DROP\",cpu=\"3\",map=\"stats_map\"} 0\n"));
}

#[test]
fn label_values_are_escaped() {
    let mut out = String::new();
    escape_label_value("a\\b\"c\nd", &mut out);
    assert_eq!(out, "a\\\\b\\\"c\\nd");

    let mut sample = sample(7, 0.0, [(0, 0), (0, 0)]);
    sample.map_name = "odd\"map\\".to_string();
    sample.actions.truncate(1);
    let programs = vec![ProgramInfo {
        ifname: "if\nname".to_string(),
        prog_id: 1,
        prog_name: "p".to_string(),
        mode: "drv".to_string(),
    }];
    let scrape = Scrape {
        sample: &sample,
        percpu: None,
        programs: &programs,
        duration: f64::NAN,
    };
    let mut text = String::new();
    render(&scrape, Format::Text, &mut text);
    assert!(text
        .contains("xdp_action_packets_total{action=\"XDP_ABORTED\",map=\"odd\\\"map\\\\\"} 0\n"));
    assert!(text.contains("xdp_program_info{ifname=\"if\\nname\",prog_id=\"1\""));
    assert!(text.ends_with("xdp_scrape_duration_seconds 0\n"), "{text}");
}

#[test]
fn no_programs_leaves_the_family_empty() {
    let sample = sample(7, 0.0, [(1, 2), (0, 0)]);
    let scrape = Scrape {
        sample: &sample,
        percpu: None,
        programs: &[],
        duration: 0.5,
    };
    let mut text = String::new();
    render(&scrape, Format::OpenMetrics, &mut text);
    assert!(text.contains("# HELP xdp_program The XDP"));
    assert!(!text.contains("xdp_program_info{"));
    assert!(text.ends_with("xdp_scrape_duration_seconds 0.5\n# EOF\n"));
}

#[test]
fn the_accept_header_picks_the_format() {
    // What Prometheus 2.x sends.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text")),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(None), Format::Text);
    assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
    assert_eq!(
        Format::negotiate(Some("text/plain;version=0.0.4")),
        Format::Text
    );
    assert_eq!(
        Format::negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
        Format::Text
    );
    // Only a version this exporter does not write: the text format.
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text; version=0.0.1")),
        Format::Text
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0")),
        Format::Text
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=nonsense")),
        Format::Text
    );
}

#[test]
fn content_types() {
    assert_eq!(
        Format::Text.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}
