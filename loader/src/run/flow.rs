//! The `-run` command: the object and the capture read (the capture before the kernel: a
//! bad file should not cost a verifier run), the object loaded for the run, each packet
//! test-run, the report written. Its lines go to the caller as they are ready.

use std::path::Path;

use crate::load::maps::object_name;
use crate::load::read_object;
use crate::load::tracefs::printk_note;
use crate::run::pcap::{read_capture, write_pcap, CaptureFormat, CapturedPacket};
use crate::run::prepare::load_for_run;
use crate::run::report::{
    json_report, output_packets, summarize, text_header, text_row, text_summary, RunInfo,
};
use crate::run::test_runs::run_packets;
use crate::run::{entry_program, RunError};
use crate::timings;

/// What `-run` runs: which program of which object over which capture.
#[derive(Debug, Clone, Copy)]
pub struct RunRequest<'a> {
    pub file: &'a Path,
    pub program: &'a str,
    pub pcap: &'a Path,
    /// Runs per packet (`-repeat`); `None` is one, without the timing column.
    pub repeat: Option<u32>,
    /// Where to write the packets the program passed or sent back (`-out`).
    pub out: Option<&'a Path>,
    /// One JSON document instead of the text report.
    pub json: bool,
    pub pin_root: &'a Path,
}

/// A line of `-run`'s output: the report, or a note beside it. The binary prints notes
/// to standard error, so that with -json standard output holds the JSON document alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunLine {
    Report(String),
    Note(String),
}

/// `-run PROG -pcap IN`: loads the object as an attach would, attaches nothing, runs each
/// packet of the capture through PROG and reports the verdicts (text or JSON), writing
/// the passed packets to `out` when asked. Every line goes to `say` as it is ready.
pub fn run_capture(request: &RunRequest<'_>, say: &mut dyn FnMut(RunLine)) -> Result<(), RunError> {
    let RunRequest {
        file,
        program,
        pcap,
        pin_root,
        json,
        ..
    } = *request;
    let object = read_object(file)?;
    // The capture before the kernel: a bad file should not cost a verifier run.
    let bytes = std::fs::read(pcap).map_err(|error| RunError::ReadCapture {
        path: pcap.to_path_buf(),
        error,
    })?;
    let capture = read_capture(&bytes).map_err(|error| RunError::Capture {
        path: pcap.to_path_buf(),
        error,
    })?;
    drop(bytes);

    let loaded = load_for_run(&object, &object_name(file), pin_root, program)?;
    let entry = entry_program(&object, program)?;
    for note in &loaded.notes {
        say(RunLine::Note(note.clone()));
    }
    let repeat = request.repeat.unwrap_or(1);
    // With -json, standard output holds the JSON document alone: notes go to stderr.
    let trace = printk_note(&object);
    if json {
        trace.into_iter().for_each(|line| say(RunLine::Note(line)));
    } else {
        say(RunLine::Report(format!(
            "Loaded program {program} from {}",
            file.display()
        )));
        for (map, slot, name) in &loaded.wiring {
            say(RunLine::Report(format!(
                "Inserted program {name} into slot {slot} of {map}"
            )));
        }
        for (map, path) in &loaded.pinned {
            say(RunLine::Report(format!(
                "Pinned map {map} at {}",
                path.display()
            )));
        }
        trace
            .into_iter()
            .for_each(|line| say(RunLine::Report(line)));
        let runs = if repeat > 1 {
            format!(", {repeat} runs each")
        } else {
            String::new()
        };
        say(RunLine::Report(format!(
            "Running {} packets of {} ({}) through {program}{runs}",
            capture.packets.len(),
            pcap.display(),
            capture.format.name()
        )));
    }

    timings::phase("test runs");
    let mut notes = Vec::new();
    let (results, context) = run_packets(&loaded.entry, entry, &capture, repeat, &mut notes)?;
    for note in &notes {
        say(RunLine::Note(note.clone()));
    }
    let summary = summarize(&results);

    let written = match request.out {
        Some(path) => {
            let packets = output_packets(&capture, &results);
            let nanos = matches!(
                capture.format,
                CaptureFormat::PcapNg | CaptureFormat::Pcap { nanos: true }
            );
            write_out(path, &packets, nanos)?;
            Some((path, packets.len()))
        }
        None => None,
    };

    let info = RunInfo {
        object: file.display().to_string(),
        program: program.to_string(),
        capture: pcap.display().to_string(),
        format: capture.format,
        repeat,
        context,
    };
    if json {
        let mut report = json_report(&info, &results, &summary);
        if let Some((path, packets)) = written {
            report["out"] = serde_json::json!({
                "path": path.display().to_string(),
                "packets": packets,
            });
        }
        say(RunLine::Report(report.to_string()));
        return Ok(());
    }
    let timed = request.repeat.is_some();
    say(RunLine::Report(text_header(timed)));
    for result in &results {
        say(RunLine::Report(text_row(result, timed)));
    }
    for line in text_summary(&info, &summary, timed) {
        say(RunLine::Report(line));
    }
    if let Some((path, packets)) = written {
        say(RunLine::Report(format!(
            "Wrote {packets} packets (XDP_PASS and XDP_TX, as the program left them) to {}",
            path.display()
        )));
    }
    Ok(())
}

/// Writes the `-out` capture.
fn write_out(path: &Path, packets: &[CapturedPacket], nanos: bool) -> Result<(), RunError> {
    let write_error = |reason: String| RunError::WriteOut {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|error| write_error(error.to_string()))?;
    write_pcap(std::io::BufWriter::new(file), packets, nanos).map_err(|error| {
        let reason = match error {
            pcap_file::PcapError::IoError(error) => error.to_string(),
            other => other.to_string(),
        };
        write_error(reason)
    })
}
