//! statswatch: print the per-action packet and byte counters of a pinned stats map, once
//! or as a live view.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

use loader::stats::counters::{ActionCounters, Sample, DATAREC_SIZE};
use loader::stats::rates::{Observation, Watch};
use loader::stats::{self};
use loader::vocab::{map_name_matches, map_type_name, DEFAULT_PIN_ROOT};
use loader::ExitKind;
use sys::abi::BPF_MAP_TYPE_PERCPU_ARRAY;
use sys::obj::PinnedMapError;
use sys::{MapFd, MapInfo, SysError};

/// Print the XDP actions' packet and byte counters from a pinned per-CPU stats map,
/// summed over all possible CPUs; once, or live with -watch.
///
/// Go-style single-dash flags work too: `statswatch -file /sys/fs/bpf/stats_map`.
#[derive(Debug, Parser)]
#[command(name = "statswatch", version)]
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

    /// Seconds between samples with -watch, fractions allowed (default 1).
    #[arg(long, value_name = "SECS", requires = "watch", value_parser = parse_interval)]
    interval: Option<Duration>,

    /// Stop after N samples with -watch.
    #[arg(long, value_name = "N", requires = "watch", value_parser = parse_count)]
    count: Option<u64>,

    /// One JSON object per sample, on one line.
    #[arg(long)]
    json: bool,

    /// The per-CPU counters under each action's total.
    #[arg(long)]
    percpu: bool,
}

const DEFAULT_MAP: &str = "stats_map";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL_SECS: f64 = 86_400.0;
/// Set to 1 to read every key with BPF_MAP_LOOKUP_ELEM instead of one batch lookup.
const NO_BATCH_ENV: &str = "STATSWATCH_NO_BATCH";
/// At most this many elements per BPF_MAP_LOOKUP_BATCH call.
const BATCH_ELEMENTS: usize = 256;

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

struct Failure {
    kind: ExitKind,
    message: String,
}

impl Failure {
    fn new(kind: ExitKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    fn write(error: std::io::Error) -> Failure {
        Failure::new(
            ExitKind::Environment,
            format!("cannot write to standard output: {error}"),
        )
    }
}

fn main() -> ExitCode {
    sys::process::default_sigpipe();
    let args: Args = match loader::cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("statswatch: {}", failure.message);
            ExitCode::from(failure.kind as u8)
        }
    }
}

/// The CPUs whose values a per-CPU lookup returns, in order, and how many slots the
/// lookup buffer needs.
struct Cpus {
    ids: Vec<u32>,
    slots: usize,
}

fn possible_cpus() -> Result<Cpus, Failure> {
    let slots = sys::cpus::possible_cpus().map_err(|error| {
        Failure::new(
            ExitKind::Environment,
            format!("cannot count the possible CPUs: {error}"),
        )
    })?;
    let ids = std::fs::read_to_string(sys::cpus::POSSIBLE_CPUS_PATH)
        .ok()
        .and_then(|list| stats::counters::cpu_ids(&list))
        .filter(|ids| ids.len() <= slots)
        .unwrap_or_else(|| (0..slots as u32).collect());
    Ok(Cpus { ids, slots })
}

fn run(args: &Args) -> Result<(), Failure> {
    let pin = resolve_pin(args)?;
    let cpus = possible_cpus()?;
    let percpu = args.percpu.then_some(cpus.ids.as_slice());
    let (map, info) = open_map(&pin).map_err(|error| error.failure(&pin))?;
    if args.watch {
        return watch(args, &pin, &cpus, (map, info));
    }
    let sample = read_sample(&map, &info, &cpus, &pin, 0.0)?;
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        stats::render::format_json(&Observation::single(sample), false, percpu, None) + "\n"
    } else {
        let mut lines = vec![found_line(&info)];
        lines.extend(stats::render::format_counters(&sample, percpu));
        lines.join("\n") + "\n"
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::write)
}

fn found_line(info: &MapInfo) -> String {
    format!(
        "Found map {} of type {}",
        info.name,
        map_type_name(info.map_type)
    )
}

/// The pin to read: -file, or -m NAME in the pin directory, or stats_map there.
fn resolve_pin(args: &Args) -> Result<PathBuf, Failure> {
    if let Some(file) = &args.file {
        return Ok(file.clone());
    }
    let dir = args
        .pin_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PIN_ROOT));
    match &args.map {
        None => Ok(dir.join(DEFAULT_MAP)),
        Some(name) => find_map_by_name(&dir, name),
    }
}

fn is_valid_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// DIR/NAME when it exists; else the one pinned map whose kernel name is NAME among the
/// pins in DIR and in the directories directly inside it.
fn find_map_by_name(dir: &Path, name: &str) -> Result<PathBuf, Failure> {
    if is_valid_file_name(name) {
        let direct = dir.join(name);
        if std::fs::symlink_metadata(&direct).is_ok() {
            return Ok(direct);
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|error| {
        let kind = if error.kind() == std::io::ErrorKind::PermissionDenied {
            "; run it as root (sudo)"
        } else {
            "; pass the bpffs directory the maps are pinned in with -pin-path"
        };
        Failure::new(
            ExitKind::Environment,
            format!(
                "cannot list the pin directory {}: {error}{kind}",
                dir.display()
            ),
        )
    })?;
    let mut pins = Vec::new();
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if let Ok(inner) = std::fs::read_dir(entry.path()) {
                pins.extend(
                    inner
                        .flatten()
                        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
                        .map(|entry| entry.path()),
                );
            }
        } else if file_type.is_file() {
            pins.push(entry.path());
        }
    }
    pins.sort();
    let mut found: Vec<(PathBuf, u32)> = Vec::new();
    let mut refused = false;
    for pin in pins {
        match sys::obj::map_from_pin(&pin) {
            Ok(map) => {
                let Ok(info) = sys::map::map_info(map.as_fd()) else {
                    continue;
                };
                if map_name_matches(&info.name, name) && !found.iter().any(|(_, id)| *id == info.id)
                {
                    found.push((pin, info.id));
                }
            }
            Err(PinnedMapError::Open(error)) if error.is_permission() => refused = true,
            Err(_) => {}
        }
    }
    match found.len() {
        1 => Ok(found.remove(0).0),
        0 if refused => Err(Failure::new(
            ExitKind::Environment,
            format!(
                "cannot open the pins in {} to look for map {name}: permission denied; run it as root (sudo)",
                dir.display()
            ),
        )),
        0 => Err(Failure::new(
            ExitKind::Environment,
            format!(
                "no map called {name} is pinned in {} or a directory inside it; load the program first or pass -pin-path or -file",
                dir.display()
            ),
        )),
        _ => {
            let paths: Vec<String> = found
                .iter()
                .map(|(path, id)| format!("{} (id {id})", path.display()))
                .collect();
            Err(Failure::new(
                ExitKind::Usage,
                format!(
                    "{} maps called {name} are pinned under {}: {}; pick one with -file",
                    found.len(),
                    dir.display(),
                    paths.join(", ")
                ),
            ))
        }
    }
}

/// Why a pin could not be opened as a stats map.
enum OpenError {
    /// Nothing is pinned there.
    Missing,
    Failed(Failure),
}

impl OpenError {
    fn failure(self, pin: &Path) -> Failure {
        match self {
            OpenError::Missing => Failure::new(
                ExitKind::Environment,
                format!(
                    "no map is pinned at {}; load the program first (sudo scripts/start.sh) or pass the right -file",
                    pin.display()
                ),
            ),
            OpenError::Failed(failure) => failure,
        }
    }
}

/// Opens the map pinned at `pin` and checks that it is a stats map.
fn open_map(pin: &Path) -> Result<(MapFd, MapInfo), OpenError> {
    let path = pin.display();
    let map = sys::obj::map_from_pin(pin).map_err(|error| match error {
        PinnedMapError::Open(error) if error.errno == nix::errno::Errno::ENOENT => {
            OpenError::Missing
        }
        PinnedMapError::Open(error) if error.is_permission() => OpenError::Failed(Failure::new(
            ExitKind::Environment,
            format!(
                "cannot open {path}: {}; run it as root (sudo)",
                error.errno.desc()
            ),
        )),
        other => OpenError::Failed(Failure::new(
            ExitKind::BadObject,
            format!("cannot open {path} as a map: {other}"),
        )),
    })?;
    let info = sys::map::map_info(map.as_fd()).map_err(|error| {
        OpenError::Failed(Failure::new(
            ExitKind::KernelRefused,
            format!("cannot read what map {path} is: {error}"),
        ))
    })?;
    if info.map_type != BPF_MAP_TYPE_PERCPU_ARRAY
        || info.value_size != DATAREC_SIZE
        || info.key_size != 4
    {
        let kind = map_type_name(info.map_type);
        return Err(OpenError::Failed(Failure::new(
            ExitKind::BadObject,
            format!(
                "map {} at {path} is {} {kind} with {}-byte keys and {}-byte values; statswatch reads a Per-CPU array with 4-byte keys and {DATAREC_SIZE}-byte values (struct datarec)",
                info.name,
                if kind.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" },
                info.key_size,
                info.value_size
            ),
        )));
    }
    Ok((map, info))
}

/// Set once the kernel has said it has no batch lookup: every later read goes per key.
static BATCH_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

fn batch_disabled() -> bool {
    BATCH_UNSUPPORTED.load(Ordering::Relaxed)
        || std::env::var_os(NO_BATCH_ENV).is_some_and(|value| value == "1")
}

/// Reads every key of the stats map: one BPF_MAP_LOOKUP_BATCH where the kernel has it,
/// else one BPF_MAP_LOOKUP_ELEM per key.
fn read_sample(
    map: &MapFd,
    info: &MapInfo,
    cpus: &Cpus,
    pin: &Path,
    monotonic: f64,
) -> Result<Sample, Failure> {
    let refused = |error: SysError| {
        Failure::new(
            ExitKind::KernelRefused,
            format!("cannot read the counters of {}: {error}", pin.display()),
        )
    };
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    let mut actions = None;
    if !batch_disabled() {
        match read_batch(map, info, cpus) {
            Ok(read) => actions = Some(read),
            Err(error) if sys::batch::is_unsupported(&error) => {
                BATCH_UNSUPPORTED.store(true, Ordering::Relaxed);
            }
            Err(error) => return Err(refused(error)),
        }
    }
    let actions = match actions {
        Some(actions) => actions,
        None => read_per_key(map, info, cpus).map_err(refused)?,
    };
    Ok(Sample {
        map_name: info.name.clone(),
        map_id: info.id,
        time,
        monotonic,
        actions,
    })
}

fn counters(key: u32, value: &[u8], cpus: &Cpus) -> ActionCounters {
    let mut per_cpu = stats::counters::per_cpu_datarecs(value, cpus.slots);
    // Values fill one slot per possible CPU, in order; a sparse CPU list leaves the rest empty.
    per_cpu.truncate(cpus.ids.len());
    ActionCounters { key, per_cpu }
}

fn read_batch(map: &MapFd, info: &MapInfo, cpus: &Cpus) -> Result<Vec<ActionCounters>, SysError> {
    let mut lookup = sys::batch::BatchLookup::new(map.as_fd())?;
    let (key_size, value_size) = (lookup.key_size(), lookup.value_size());
    // One element more than the map holds: the kernel then ends the first call with
    // "no more" (ENOENT), so a whole sample takes a single call.
    let elements = (info.max_entries as usize)
        .saturating_add(1)
        .min(BATCH_ELEMENTS);
    let mut keys = vec![0u8; elements * key_size];
    let mut values = vec![0u8; elements * value_size];
    let mut actions = Vec::new();
    while !lookup.is_finished() {
        let read = lookup.next_batch(&mut keys, &mut values)?;
        if read == 0 {
            break;
        }
        for (key, value) in keys
            .chunks_exact(key_size)
            .zip(values.chunks_exact(value_size))
            .take(read)
        {
            let mut raw = [0u8; 4];
            for (slot, byte) in raw.iter_mut().zip(key) {
                *slot = *byte;
            }
            actions.push(counters(u32::from_ne_bytes(raw), value, cpus));
        }
    }
    actions.sort_by_key(|action| action.key);
    Ok(actions)
}

fn read_per_key(map: &MapFd, info: &MapInfo, cpus: &Cpus) -> Result<Vec<ActionCounters>, SysError> {
    let mut buffer = vec![0u8; stats::counters::per_cpu_stride(info.value_size) * cpus.slots];
    let mut actions = Vec::new();
    for key in 0..info.max_entries {
        buffer.fill(0);
        if sys::map::map_lookup_elem(map.as_fd(), &key.to_ne_bytes(), &mut buffer)? {
            actions.push(counters(key, &buffer, cpus));
        } else {
            actions.push(ActionCounters {
                key,
                per_cpu: vec![stats::counters::DataRec::default(); cpus.ids.len()],
            });
        }
    }
    Ok(actions)
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
    fn new(terminal: bool) -> Result<Screen, Failure> {
        let mut screen = Screen {
            out: std::io::stdout(),
            terminal,
            drawn: 0,
            last_frame: Vec::new(),
        };
        if terminal {
            screen.write(stats::render::HIDE_CURSOR)?;
        }
        Ok(screen)
    }

    fn write(&mut self, text: &str) -> Result<(), Failure> {
        let mut out = self.out.lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Failure::write)
    }

    fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.write(&format!("{line}\n"))
    }

    fn frame(&mut self, lines: Vec<String>) -> Result<(), Failure> {
        if self.terminal {
            self.write(&stats::render::redraw(self.drawn, &lines))?;
            self.drawn = lines.len();
        } else {
            self.write(&(lines.join("\n") + "\n"))?;
        }
        self.last_frame = lines;
        Ok(())
    }

    /// A line that stays: above the live frame on a terminal, in the flow otherwise.
    fn notice(&mut self, text: &str) -> Result<(), Failure> {
        if !self.terminal {
            return self.line(text);
        }
        self.write(&stats::render::notice_above(self.drawn, text))?;
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
            let _ = out.write_all(stats::render::SHOW_CURSOR.as_bytes());
            let _ = out.flush();
        }
    }
}

fn watch(args: &Args, pin: &Path, cpus: &Cpus, first: (MapFd, MapInfo)) -> Result<(), Failure> {
    // Before anything else: from here on Ctrl-C and SIGTERM end the loop, not the process.
    let signals = sys::signal::StopSignals::new().map_err(|error| {
        Failure::new(
            ExitKind::Environment,
            format!("cannot catch Ctrl-C and SIGTERM: {error}"),
        )
    })?;
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let percpu = args.percpu.then_some(cpus.ids.as_slice());
    let pin_text = pin.display().to_string();
    let mut screen = Screen::new(!args.json && std::io::stdout().is_terminal())?;
    if !args.json {
        screen.line(&found_line(&first.1))?;
    }
    let notice = |screen: &mut Screen, text: &str| -> Result<(), Failure> {
        let text = format!("statswatch: {text}");
        if args.json {
            eprintln!("{text}");
            Ok(())
        } else {
            screen.notice(&text)
        }
    };
    let start = Instant::now();
    let mut next = start;
    let mut baseline = Watch::default();
    let mut opened = Some(first);
    let mut waiting = false;
    let mut taken: u64 = 0;
    loop {
        let current = match opened.take() {
            Some(current) => Some(current),
            None => match open_map(pin) {
                Ok(current) => Some(current),
                Err(OpenError::Missing) => None,
                Err(OpenError::Failed(failure)) => return Err(failure),
            },
        };
        match current {
            Some((map, info)) => {
                waiting = false;
                let monotonic = start.elapsed().as_secs_f64();
                let sample = read_sample(&map, &info, cpus, pin, monotonic)?;
                let observation = baseline.observe(sample);
                let reset_text = observation
                    .reset
                    .as_ref()
                    .map(|reset| reset.describe(&info.name, &pin_text));
                if let Some(text) = &reset_text {
                    notice(&mut screen, text)?;
                }
                if args.json {
                    screen.line(&stats::render::format_json(
                        &observation,
                        true,
                        percpu,
                        reset_text.as_deref(),
                    ))?;
                } else {
                    screen.frame(stats::render::format_frame(&observation, percpu))?;
                }
            }
            None if !waiting => {
                waiting = true;
                notice(
                    &mut screen,
                    &format!(
                        "no map is pinned at {pin_text} any more; waiting for one to appear (Ctrl-C to stop)"
                    ),
                )?;
            }
            None => {}
        }
        taken += 1;
        if args.count.is_some_and(|count| taken >= count) {
            return Ok(());
        }
        let now = Instant::now();
        next = match next.checked_add(interval) {
            // Reading took longer than the interval: start counting again from now.
            Some(due) if due < now => now.checked_add(interval).unwrap_or(now),
            Some(due) => due,
            None => now,
        };
        let stop = signals
            .wait(next.saturating_duration_since(now))
            .map_err(|error| {
                Failure::new(
                    ExitKind::Environment,
                    format!("cannot wait for the next sample: {error}"),
                )
            })?;
        if stop.is_some() {
            return Ok(());
        }
    }
}
