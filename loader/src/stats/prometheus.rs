//! `statswatch -prometheus`: a sample as Prometheus metrics, in the text exposition
//! format 0.0.4 or in OpenMetrics 1.0.0, whichever the scraper's Accept header asks for.
//! Pure: a sample, the attached programs and the scrape's duration in, text out.
//!
//! In both formats a counter's samples end in `_total`; in OpenMetrics the family that
//! `# TYPE` and `# HELP` name does not (`xdp_action_packets`), and the text ends in `# EOF`.

use std::fmt::Write;

use crate::stats::counters::{DataRec, Sample};

/// Which exposition format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics text, version 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The Content-Type header of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an Accept header asks for: OpenMetrics when it accepts
    /// `application/openmetrics-text` (version 1.0.0 or any) at least as much as the
    /// text format, the text format otherwise (and without an Accept header).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut openmetrics = 0.0f64;
        let mut text = 0.0f64;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut quality = 1.0f64;
            let mut version = None;
            for parameter in parts {
                let Some((name, value)) = parameter.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    "q" => quality = value.parse().unwrap_or(0.0),
                    "version" => version = Some(value.to_string()),
                    _ => {}
                }
            }
            let quality = if quality.is_finite() {
                quality.clamp(0.0, 1.0)
            } else {
                0.0
            };
            // No version, or the one this exporter writes (rust-version 1.75: no is_none_or).
            let any_or = |wanted: &str| match version.as_deref() {
                None => true,
                Some(version) => version == wanted,
            };
            match media.as_str() {
                "application/openmetrics-text" if any_or("1.0.0") => {
                    openmetrics = openmetrics.max(quality);
                }
                "text/plain" if any_or("0.0.4") => text = text.max(quality),
                "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The XDP program attached to one interface, for `xdp_program_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    pub ifname: String,
    pub prog_id: u32,
    pub prog_name: String,
    /// As `xdploader -status -json` says it: `generic`, `drv` or `offload`.
    pub mode: String,
}

/// What one scrape shows.
#[derive(Debug, Clone, Copy)]
pub struct Scrape<'a> {
    pub sample: &'a Sample,
    /// With `-percpu`: the CPU numbers, in the order of each action's per-CPU values; a
    /// series per CPU (labelled `cpu`) instead of the sum.
    pub percpu: Option<&'a [u32]>,
    pub programs: &'a [ProgramInfo],
    /// Seconds that reading the map and the interfaces took.
    pub duration: f64,
}

struct Family {
    /// The family name: OpenMetrics' `# TYPE` name; a counter's samples add `_total`.
    name: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    help: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    /// OpenMetrics' info type (samples end in `_info`, value 1); a gauge in the text format.
    Info,
}

const PACKETS: Family = Family {
    name: "xdp_action_packets",
    kind: Kind::Counter,
    unit: None,
    help: "Packets the XDP program returned this action for (the stats map's rx_packets), summed over the possible CPUs unless labelled with a cpu.",
};

const BYTES: Family = Family {
    name: "xdp_action_bytes",
    kind: Kind::Counter,
    unit: Some("bytes"),
    help: "Bytes of the frames the XDP program returned this action for, Ethernet header included (the stats map's rx_bytes), summed over the possible CPUs unless labelled with a cpu.",
};

const PROGRAM: Family = Family {
    name: "xdp_program",
    kind: Kind::Info,
    unit: None,
    help: "The XDP program attached to an interface: its kernel id and name, and the attach mode (generic, drv or offload). Always 1.",
};

const DURATION: Family = Family {
    name: "xdp_scrape_duration_seconds",
    kind: Kind::Gauge,
    unit: Some("seconds"),
    help: "Seconds this scrape took to read the stats map and the interfaces' XDP programs.",
};

/// A label value as both formats write it: backslash, double quote and newline escaped.
pub fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str, format: Format, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            // The text format leaves quotes in HELP alone; OpenMetrics escapes them.
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn header(family: &Family, format: Format, out: &mut String) {
    let (name, kind) = match (format, family.kind) {
        (Format::Text, Kind::Counter) => (format!("{}_total", family.name), "counter"),
        (Format::Text, Kind::Info) => (format!("{}_info", family.name), "gauge"),
        (Format::Text, Kind::Gauge) => (family.name.to_string(), "gauge"),
        (Format::OpenMetrics, Kind::Counter) => (family.name.to_string(), "counter"),
        (Format::OpenMetrics, Kind::Info) => (family.name.to_string(), "info"),
        (Format::OpenMetrics, Kind::Gauge) => (family.name.to_string(), "gauge"),
    };
    match format {
        Format::Text => {
            out.push_str("# HELP ");
            out.push_str(&name);
            out.push(' ');
            escape_help(family.help, format, out);
            let _ = write!(out, "\n# TYPE {name} {kind}\n");
        }
        Format::OpenMetrics => {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            if let Some(unit) = family.unit {
                let _ = writeln!(out, "# UNIT {name} {unit}");
            }
            out.push_str("# HELP ");
            out.push_str(&name);
            out.push(' ');
            escape_help(family.help, format, out);
            out.push('\n');
        }
    }
}

/// One sample line: `name{label="value",...} value`.
fn sample_line(name: &str, suffix: &str, labels: &[(&str, &str)], value: &str, out: &mut String) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        for (index, (label, value)) in labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(value, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

fn counter_family(
    scrape: &Scrape<'_>,
    family: &Family,
    value: fn(&DataRec) -> u64,
    format: Format,
    out: &mut String,
) {
    header(family, format, out);
    let map = scrape.sample.map_name.as_str();
    for action in &scrape.sample.actions {
        let name = action.name();
        match scrape.percpu {
            None => {
                let total = value(&action.total()).to_string();
                let labels = [("action", name.as_str()), ("map", map)];
                sample_line(family.name, "_total", &labels, &total, out);
            }
            Some(ids) => {
                for (cpu, record) in ids.iter().zip(&action.per_cpu) {
                    let cpu = cpu.to_string();
                    let count = value(record).to_string();
                    let labels = [("action", name.as_str()), ("cpu", &cpu), ("map", map)];
                    sample_line(family.name, "_total", &labels, &count, out);
                }
            }
        }
    }
}

/// Renders `scrape` in `format` into `out`, which is cleared first (its capacity is kept,
/// so a buffer reused for every scrape stops growing after the first).
pub fn render(scrape: &Scrape<'_>, format: Format, out: &mut String) {
    out.clear();
    counter_family(scrape, &PACKETS, |record| record.rx_packets, format, out);
    counter_family(scrape, &BYTES, |record| record.rx_bytes, format, out);
    header(&PROGRAM, format, out);
    for program in scrape.programs {
        let id = program.prog_id.to_string();
        let labels = [
            ("ifname", program.ifname.as_str()),
            ("prog_id", &id),
            ("prog_name", &program.prog_name),
            ("mode", &program.mode),
        ];
        sample_line(PROGRAM.name, "_info", &labels, "1", out);
    }
    header(&DURATION, format, out);
    let duration = if scrape.duration.is_finite() && scrape.duration >= 0.0 {
        scrape.duration
    } else {
        0.0
    };
    sample_line(DURATION.name, "", &[], &format!("{duration}"), out);
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
