//! statswatch: print the per-action packet and byte counters of a pinned stats map, once
//! or as a live view, or serve them to Prometheus (-prometheus); or (-exceptions) the XDP
//! tracepoints' exceptions, live. The arguments and the drawing; the reading, the
//! arithmetic, the renderings and the serving are library code (`loader::stats`,
//! `loader::export`, `loader::trace::exceptions`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use loader::export::error::ExportError;
use loader::export::scrape::{PinChoice, Scraper};
use loader::export::serve::{listen, parse_listen, serve};
use loader::stats::error::StatsError;
use loader::stats::find::resolve_pin;
use loader::stats::prometheus::Format;
use loader::stats::rates::Observation;
use loader::stats::read::{open_map, possible_cpus, read_sample, Cpus};
use loader::stats::render::{self, found_line};
use loader::stats::watch::{self, View};
use loader::trace::error::TraceError;
use loader::trace::exceptions::start_exceptions;
use loader::trace::exceptions_view::exceptions_frame;
use sys::{MapFd, MapInfo};

/// Print the XDP actions' packet and byte counters from a pinned per-CPU stats map,
/// summed over all possible CPUs; once, live with -watch, or served to Prometheus with
/// -prometheus. With -exceptions: what XDP programs abort and which redirects fail, live,
/// from the XDP tracepoints.
///
/// Go-style single-dash flags work too: `statswatch -file /sys/fs/bpf/stats_map`.
#[derive(Debug, Parser)]
#[command(name = "statswatch", version)]
#[command(group(clap::ArgGroup::new("live").args(["watch", "exceptions"])))]
struct Args {
    /// The pinned map (a per-CPU array of struct datarec { u64 rx_packets; u64 rx_bytes; }).
    /// Default: stats_map in the pin directory (/sys/fs/bpf/stats_map).
    #[arg(long = "file", value_name = "PIN", conflicts_with_all = ["map", "pin_path"])]
    file: Option<PathBuf>,

    /// Find the map by name: the pin DIR/NAME, else the one pinned map called NAME in the
    /// pin directory or a directory inside it.
    #[arg(short = 'm', long = "map", value_name = "NAME")]
    map: Option<String>,

    /// The bpffs directory that -m searches (and where stats_map is by default).
    #[arg(long = "pin-path", value_name = "DIR")]
    pin_path: Option<PathBuf>,

    /// Keep reading and show packets/s and bits/s over each interval: redrawn in place on
    /// a terminal, one block per sample otherwise. Ctrl-C stops it.
    #[arg(long)]
    watch: bool,

    /// Seconds between samples with -watch or -exceptions, fractions allowed (default 1).
    #[arg(long, value_name = "SECS", requires = "live", value_parser = parse_interval)]
    interval: Option<Duration>,

    /// Stop after N samples with -watch or -exceptions.
    #[arg(long, value_name = "N", requires = "live", value_parser = parse_count)]
    count: Option<u64>,

    /// Attach our counting program to the xdp:xdp_exception and xdp:xdp_redirect_err
    /// tracepoints and show, live, XDP_ABORTED and failed redirects per interface and
    /// program. Ctrl-C detaches it; nothing is pinned.
    #[arg(long, conflicts_with_all = ["file", "map", "pin_path", "watch", "json", "percpu"])]
    exceptions: bool,

    /// One JSON object per sample, on one line.
    #[arg(long)]
    json: bool,

    /// The per-CPU counters under each action's total (with -prometheus: a series per CPU,
    /// labelled cpu, instead of the sum).
    #[arg(long)]
    percpu: bool,

    /// Serve the counters as Prometheus metrics at http://ADDR:PORT/metrics until Ctrl-C.
    /// A bare port (9435 or :9435) listens on 127.0.0.1 only; listening on other addresses
    /// must be written out (0.0.0.0:9435). Without a value: 127.0.0.1:9435.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        num_args = 0..=1,
        default_missing_value = "9435",
        conflicts_with_all = ["watch", "exceptions", "json", "count"]
    )]
    prometheus: Option<String>,
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL_SECS: f64 = 86_400.0;

fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("the interval must be more than 0 seconds".to_string());
    }
    if seconds > MAX_INTERVAL_SECS {
        return Err(format!(
            "the interval must be at most {MAX_INTERVAL_SECS} seconds (a day)"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} seconds is too long"))
}

fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err("the count must be a whole number of samples, at least 1".to_string()),
    }
}

fn main() -> ExitCode {
    sys::process::default_sigpipe();
    let args: Args = match loader::cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.exceptions {
        return exceptions_main(&args);
    }
    if let Some(listen_on) = &args.prometheus {
        return match prometheus(&args, listen_on) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("statswatch: {error}");
                ExitCode::from(error.exit_kind() as u8)
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("statswatch: {error}");
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

fn run(args: &Args) -> Result<(), StatsError> {
    let pin = resolve_pin(
        args.file.as_deref(),
        args.map.as_deref(),
        args.pin_path.as_deref(),
    )?;
    let cpus = possible_cpus()?;
    let percpu = args.percpu.then_some(cpus.ids.as_slice());
    let (map, info) = open_map(&pin)?;
    if args.watch {
        return live(args, &pin, &cpus, (map, info));
    }
    let sample = read_sample(&map, &info, &cpus, &pin, 0.0)?;
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        render::format_json(&Observation::single(sample), false, percpu, None) + "\n"
    } else {
        let mut lines = vec![found_line(&info)];
        lines.extend(render::format_counters(&sample, percpu));
        lines.join("\n") + "\n"
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StatsError::Write)
}

/// `-prometheus`: /metrics served until Ctrl-C or SIGTERM. A map that is missing or not a
/// stats map does not stop it: /metrics answers 503 with the reason until it is right.
fn prometheus(args: &Args, listen_on: &str) -> Result<(), ExportError> {
    let addr = parse_listen(listen_on)?;
    // Before the serving threads start, so that they inherit the blocked signals.
    let signals = sys::signal::StopSignals::new().map_err(ExportError::Signals)?;
    let listener = listen(addr)?;
    let bound = listener.local_addr().unwrap_or(addr);
    let choice = PinChoice {
        file: args.file.clone(),
        map: args.map.clone(),
        pin_path: args.pin_path.clone(),
    };
    let what = match (&args.file, &args.map) {
        (Some(file), _) => format!("the map pinned at {}", file.display()),
        (None, Some(name)) => format!(
            "the map called {name} in {}",
            args.pin_path
                .as_deref()
                .unwrap_or(Path::new(loader::vocab::DEFAULT_PIN_ROOT))
                .display()
        ),
        (None, None) => match resolve_pin(None, None, args.pin_path.as_deref()) {
            Ok(pin) => format!("the map pinned at {}", pin.display()),
            Err(_) => "the stats map".to_string(),
        },
    };
    let mut scraper = Scraper::new(choice, args.percpu)?;
    // A first scrape, to say at once when the map cannot be read (its notice).
    scraper.scrape(Format::Text);
    if let Some(notice) = scraper.take_notice() {
        eprintln!("statswatch: {notice}");
    }
    println!("Serving the counters of {what} at http://{bound}/metrics; press Ctrl-C to stop");
    serve(&signals, &listener, scraper, &|text| {
        eprintln!("statswatch: {text}")
    })?;
    println!("Stopped serving http://{bound}/metrics");
    Ok(())
}

/// Standard output for the live view: redrawn in place on a terminal (cursor hidden
/// meanwhile and shown again when this is dropped, however the view ends), appended
/// otherwise.
struct Screen {
    out: std::io::Stdout,
    terminal: bool,
    /// Lines of the frame on screen, which the next redraw moves up over.
    drawn: usize,
    last_frame: Vec<String>,
}

impl Screen {
    fn new(terminal: bool) -> Result<Screen, StatsError> {
        let mut screen = Screen {
            out: std::io::stdout(),
            terminal,
            drawn: 0,
            last_frame: Vec::new(),
        };
        if terminal {
            screen.write(render::HIDE_CURSOR)?;
        }
        Ok(screen)
    }

    fn write(&mut self, text: &str) -> Result<(), StatsError> {
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(StatsError::Write)
    }

    fn line(&mut self, line: &str) -> Result<(), StatsError> {
        self.write(&format!("{line}\n"))
    }

    fn frame(&mut self, lines: Vec<String>) -> Result<(), StatsError> {
        if self.terminal {
            self.write(&render::redraw(self.drawn, &lines))?;
            self.drawn = lines.len();
        } else {
            self.write(&(lines.join("\n") + "\n"))?;
        }
        self.last_frame = lines;
        Ok(())
    }

    /// A line that stays: above the live frame on a terminal, in the flow otherwise.
    fn notice(&mut self, text: &str) -> Result<(), StatsError> {
        if !self.terminal {
            return self.line(text);
        }
        self.write(&render::notice_above(self.drawn, text))?;
        let frame = std::mem::take(&mut self.last_frame);
        self.drawn = 0;
        if frame.is_empty() {
            Ok(())
        } else {
            self.frame(frame)
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.terminal {
            let mut out = self.out.lock();
            let _ = out.write_all(render::SHOW_CURSOR.as_bytes());
            let _ = out.flush();
        }
    }
}

/// The live view on standard output: a frame per sample (or a JSON line with -json), the
/// notices above it (on standard error with -json, so stdout stays JSON lines).
struct LiveView<'a> {
    screen: Screen,
    json: bool,
    percpu: Option<&'a [u32]>,
}

impl View for LiveView<'_> {
    fn notice(&mut self, text: &str) -> Result<(), StatsError> {
        let text = format!("statswatch: {text}");
        if self.json {
            eprintln!("{text}");
            Ok(())
        } else {
            self.screen.notice(&text)
        }
    }

    fn sample(&mut self, observation: &Observation, reset: Option<&str>) -> Result<(), StatsError> {
        if self.json {
            let line = render::format_json(observation, true, self.percpu, reset);
            self.screen.line(&line)
        } else {
            self.screen
                .frame(render::format_frame(observation, self.percpu))
        }
    }
}

/// `-watch`: the live view until Ctrl-C, SIGTERM or -count samples.
fn live(args: &Args, pin: &Path, cpus: &Cpus, first: (MapFd, MapInfo)) -> Result<(), StatsError> {
    // Before anything else: from here on Ctrl-C and SIGTERM end the loop, not the process.
    let signals = watch::stop_signals()?;
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let mut screen = Screen::new(!args.json && std::io::stdout().is_terminal())?;
    if !args.json {
        screen.line(&found_line(&first.1))?;
    }
    let mut view = LiveView {
        screen,
        json: args.json,
        percpu: args.percpu.then_some(cpus.ids.as_slice()),
    };
    watch::watch(&signals, pin, cpus, first, interval, args.count, &mut view)
}

/// What `-exceptions` can fail with: the tracing stage's errors, or the screen's.
enum ExceptionsFailure {
    Trace(TraceError),
    Screen(StatsError),
}

impl From<TraceError> for ExceptionsFailure {
    fn from(error: TraceError) -> Self {
        ExceptionsFailure::Trace(error)
    }
}

impl From<StatsError> for ExceptionsFailure {
    fn from(error: StatsError) -> Self {
        ExceptionsFailure::Screen(error)
    }
}

fn exceptions_main(args: &Args) -> ExitCode {
    let failed = |text: String, kind: loader::ExitKind| {
        eprintln!("statswatch: {text}");
        ExitCode::from(kind as u8)
    };
    if !loader::load::may_load_bpf() {
        let error = TraceError::Load(loader::LoadError::NotPrivileged);
        return failed(error.to_string(), error.exit_kind());
    }
    match exceptions(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ExceptionsFailure::Trace(error)) => failed(error.to_string(), error.exit_kind()),
        Err(ExceptionsFailure::Screen(error)) => failed(error.to_string(), error.exit_kind()),
    }
}

/// `-exceptions`: our program on the XDP tracepoints, its counters drawn every interval
/// until -count samples, or Ctrl-C or SIGTERM (and one frame more); then detached
/// (dropping the watch).
fn exceptions(args: &Args) -> Result<(), ExceptionsFailure> {
    // Before any kernel work: from here on Ctrl-C ends the loop and detaches.
    let signals = sys::signal::StopSignals::new().map_err(TraceError::Signals)?;
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let mut started = Vec::new();
    let watch = start_exceptions(&mut |line| started.push(line))?;
    let mut screen = Screen::new(std::io::stdout().is_terminal())?;
    for line in &started {
        screen.line(line)?;
    }
    screen.line(&format!(
        "Watching every {}s; press Ctrl-C to detach and stop",
        interval.as_secs_f64()
    ))?;
    let mut previous = Vec::new();
    let mut samples = 0u64;
    // After Ctrl-C one last frame: what happened since the one before is not lost.
    let mut stopping = false;
    loop {
        let counts = watch.read().map_err(TraceError::ReadExceptions)?;
        // Asked again each time: interfaces come and go while the view runs.
        let interfaces = sys::iface::interfaces().unwrap_or_default();
        let name = |ifindex: u32| {
            interfaces
                .iter()
                .find(|(_, index)| *index == ifindex)
                .map(|(name, _)| name.clone())
        };
        screen.frame(exceptions_frame(&counts, &previous, &name))?;
        previous = counts;
        samples += 1;
        if stopping || args.count == Some(samples) {
            break;
        }
        stopping = signals
            .wait(interval)
            .map_err(TraceError::Signals)?
            .is_some();
    }
    let attached = watch.links.len();
    drop(watch);
    screen.line(&format!(
        "Detached {attached} programs from the XDP tracepoints"
    ))?;
    Ok(())
}
