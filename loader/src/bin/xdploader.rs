//! xdploader: load an XDP object, wire its tail calls, pin its maps, attach it. The
//! arguments and the printing; what each command does is library code (`loader::load`,
//! `loader::attach`, `loader::run`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use loader::attach::flow::AttachRequest;
use loader::attach::modes::ModeRequest;
use loader::attach::{self, detach, preflight, status};
use loader::load;
use loader::load::flow::LoadOnly;
use loader::run::flow::{RunLine, RunRequest};
use loader::run::{self, RunError};
use loader::timings;
use loader::trace;
use loader::trace::error::TraceError;
use loader::trace::flow::TraceRequest;
use loader::vocab::{XdpMode, DEFAULT_PIN_ROOT, DEFAULT_PROG};
use loader::LoadError;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Native if the interface can take it, else generic (says why).
    Auto,
    /// Generic XDP: works on any interface.
    Skb,
    /// Native XDP in the driver.
    Drv,
    /// Offloaded to the NIC.
    Hw,
}

impl From<Mode> for ModeRequest {
    fn from(mode: Mode) -> ModeRequest {
        match mode {
            Mode::Auto => ModeRequest::Auto,
            Mode::Skb => ModeRequest::Exactly(XdpMode::Skb),
            Mode::Drv => ModeRequest::Exactly(XdpMode::Drv),
            Mode::Hw => ModeRequest::Exactly(XdpMode::Hw),
        }
    }
}

/// Load an XDP ELF object, put <prog>_<N> into slot N of its prog array, pin the maps
/// that ask for it and attach <prog> to each interface.
///
/// Go-style single-dash flags work too: `xdploader -file kern/xdp.elf -i veth1`.
#[derive(Debug, Parser)]
#[command(name = "xdploader", version)]
#[command(group(clap::ArgGroup::new("json_report").args(["status", "run"]).multiple(true)))]
struct Args {
    /// The eBPF ELF object (clang -target bpf).
    #[arg(long = "file", value_name = "OBJ", required_unless_present_any = ["detach", "status"])]
    file: Option<PathBuf>,
    /// Interfaces to attach to, comma-separated; @FILE reads them from FILE (commas,
    /// spaces or lines), as a Kubernetes ConfigMap mounted as files gives them.
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IF[,IF...]",
        value_delimiter = ','
    )]
    interfaces: Vec<String>,
    /// Parse only: print sections, maps, programs, relocations and BTF. Needs no root.
    #[arg(long = "dump", conflicts_with_all = ["load_only", "interfaces"])]
    dump: bool,
    /// Create every map and load every program, pin them under -pin-path, attach nothing.
    #[arg(long = "load-only", conflicts_with = "interfaces")]
    load_only: bool,
    /// Load and pin as -load-only, then attach each tracing program by its section name
    /// (tracepoint/, kprobe/, uprobe/, raw_tp/...) until Ctrl-C; with -pin-path, pin
    /// the links and exit.
    #[arg(
        long = "trace",
        conflicts_with_all = ["interfaces", "dump", "load_only", "detach", "status", "run", "prog"]
    )]
    trace: bool,
    /// With -load-only or -trace: the BPF program (an id, or the interface whose XDP
    /// program is meant) that fentry, fexit and freplace programs attach to.
    #[arg(
        long = "attach-prog",
        value_name = "ID|IFNAME",
        conflicts_with_all = ["interfaces", "dump", "detach", "status", "run"]
    )]
    attach_prog: Option<String>,
    /// The entry program to attach; <prog>_<N> goes into slot N of the prog array.
    #[arg(long = "prog", value_name = "NAME", default_value = DEFAULT_PROG)]
    prog: String,
    /// XDP attach mode.
    #[arg(long = "mode", value_enum, default_value = "skb")]
    mode: Mode,
    /// The bpffs directory where maps are pinned by name [default: /sys/fs/bpf]. With
    /// -trace: pin the links there too and exit, leaving the programs attached.
    #[arg(long = "pin-path", value_name = "DIR")]
    pin_path: Option<PathBuf>,
    /// Replace a program on the interface that is not this one.
    #[arg(long = "force")]
    force: bool,
    /// Attach through a BPF link pinned under -pin-path (survives the loader; a reload
    /// updates it in place).
    #[arg(long = "link")]
    link: bool,
    /// A tail-call slot the code jumps to that no program fills is an error.
    #[arg(long = "strict")]
    strict: bool,
    /// Take the program off the interfaces and unpin the maps and links it used.
    #[arg(long = "detach", conflicts_with_all = ["dump", "load_only", "status"], requires = "interfaces")]
    detach: bool,
    /// With -detach: keep the pinned maps (the counters).
    #[arg(long = "keep-maps", requires = "detach")]
    keep_maps: bool,
    /// Show what is attached: program, mode, method, tail-call slots, pinned maps.
    #[arg(long = "status", conflicts_with_all = ["dump", "load_only"])]
    status: bool,
    /// Print how long each phase took, and how much of it was inside bpf(2).
    #[arg(long = "timings")]
    timings: bool,
    /// With -status or -run: one JSON document.
    #[arg(long = "json", requires = "json_report")]
    json: bool,
    /// Load the object as for an attach, attach nothing, and run each packet of -pcap
    /// through PROG (BPF_PROG_TEST_RUN); <PROG>_<N> goes into slot N of the prog array.
    #[arg(
        long = "run",
        value_name = "PROG",
        requires = "pcap",
        conflicts_with_all = ["interfaces", "dump", "load_only", "detach", "status", "prog"]
    )]
    run: Option<String>,
    /// With -run: the packets, a pcap or pcapng capture of Ethernet frames.
    #[arg(long = "pcap", value_name = "IN.pcap", requires = "run")]
    pcap: Option<PathBuf>,
    /// With -run: run each packet N times (the maps see every run) and show the
    /// kernel's mean time per run.
    #[arg(
        long = "repeat",
        value_name = "N",
        requires = "run",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    repeat: Option<u32>,
    /// With -run: write the packets the program passed or sent back (XDP_PASS, XDP_TX),
    /// as it left them, to a pcap file.
    #[arg(long = "out", value_name = "OUT.pcap", requires = "run")]
    out: Option<PathBuf>,
}

impl Args {
    /// -pin-path, or the default pin root.
    fn pin_root(&self) -> &Path {
        self.pin_path
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_PIN_ROOT))
    }
}

fn main() -> ExitCode {
    sys::process::default_sigpipe();
    let mut args: Args = match loader::cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match interfaces_from_files(&args.interfaces) {
        Ok((names, Some(file))) if names.is_empty() && args.detach => {
            // A preStop hook's way of keeping the program: it names no interface.
            println!("Nothing to detach: {} names no interface", file.display());
            return ExitCode::SUCCESS;
        }
        Ok((names, Some(file))) if names.is_empty() => {
            let error = LoadError::Usage(format!(
                "{} names no interface; write the interfaces in it, comma-separated",
                file.display()
            ));
            eprintln!("xdploader: {error}");
            return ExitCode::from(error.exit_kind() as u8);
        }
        Ok((names, _)) => args.interfaces = names,
        Err(error) => {
            eprintln!("xdploader: {error}");
            return ExitCode::from(error.exit_kind() as u8);
        }
    }
    if let Some(code) = dispatch_test_run(&args) {
        return code;
    }
    if args.trace {
        return trace_main(&args);
    }
    match run(&args, &mut |line| println!("{line}")) {
        Ok(()) => {
            if let Some(phases) = timings::finish() {
                print!("{}", timings::report(&phases));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xdploader: {error}");
            print_verifier_log(&error);
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

/// `-i` with every `@FILE` entry replaced by the interfaces FILE names (separated by
/// commas, spaces or newlines), and the last such file, if any.
fn interfaces_from_files(entries: &[String]) -> Result<(Vec<String>, Option<PathBuf>), LoadError> {
    let mut names = Vec::with_capacity(entries.len());
    let mut file = None;
    for entry in entries {
        let Some(path) = entry.strip_prefix('@') else {
            names.push(entry.clone());
            continue;
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            LoadError::Usage(format!(
                "cannot read the interface list {path} (-i @{path}): {error}"
            ))
        })?;
        names.extend(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .map(str::to_string),
        );
        file = Some(PathBuf::from(path));
    }
    Ok((names, file))
}

/// After a verifier rejection: the end of the verifier log, and where the whole of it is.
fn print_verifier_log(error: &LoadError) {
    let refused = match error {
        LoadError::ProgLoad(refused) | LoadError::CoRePoisonReached { error: refused, .. } => {
            Some(refused)
        }
        _ => None,
    };
    if let (Some(log), Some(refused)) = (error.verifier_log(), refused) {
        for line in loader::explain::verifier_log(&refused.name, log) {
            eprintln!("{line}");
        }
    }
}

/// Every command but `-run`; progress lines to standard output, as they happen.
fn run(args: &Args, say: &mut dyn FnMut(String)) -> Result<(), LoadError> {
    // Everything but -dump talks to the kernel's BPF side.
    if !args.dump && !load::may_load_bpf() {
        return Err(LoadError::NotPrivileged);
    }
    if args.status {
        let interfaces = preflight::interfaces_of(&args.interfaces)?;
        let report = status::status_report(&interfaces, args.pin_root())?;
        if args.json {
            println!("{}", status::status_json(&report));
        } else {
            status::status_lines(&report)
                .iter()
                .for_each(|line| println!("{line}"));
        }
        return Ok(());
    }
    if args.detach {
        let interfaces = preflight::interfaces_of(&args.interfaces)?;
        let (force, keep_maps) = (args.force, args.keep_maps);
        return detach::detach_all(
            &interfaces,
            &args.prog,
            force,
            keep_maps,
            args.pin_root(),
            say,
        );
    }
    if args.timings {
        timings::enable();
        timings::phase("parse");
    }
    let file = object_file(args)?;
    let object = load::read_object(file)?;
    if args.dump {
        // CO-RE is resolved against the kernel's BTF, which is world-readable: -dump
        // still needs no root, and reads it only for an object with CO-RE relocations.
        // One kernel BTF, read at most once, for the CO-RE relocations and the __ksym externs.
        let context = load::core::CoreContext::default();
        let (unavailable, programs) = load::core::dump_core(&context, &object);
        let core = loader::dump::CoreReport {
            unavailable,
            programs,
            ksyms: load::ksym::dump_ksyms(&object, context.kernel()),
        };
        print!(
            "{}",
            loader::dump::dump(&object, &file.display().to_string(), &core)
        );
        return Ok(());
    }
    if args.load_only {
        let request = LoadOnly {
            file,
            entry: &args.prog,
            pin_root: args.pin_root(),
            attach_prog: args.attach_prog.as_deref(),
        };
        return load::flow::load_only(&object, &request, say);
    }
    if args.interfaces.is_empty() {
        return Err(LoadError::Usage(
            "xdploader needs -i IF[,IF...] to attach; use -dump to inspect or -load-only to verify without attaching"
                .into(),
        ));
    }
    let request = AttachRequest {
        file,
        entry: &args.prog,
        interfaces: &args.interfaces,
        mode: ModeRequest::from(args.mode),
        pin_root: args.pin_root(),
        force: args.force,
        link: args.link,
        strict: args.strict,
    };
    attach::flow::attach_object(&object, &request, say)
}

/// `-trace`: attaches the object's tracing programs and maps the outcome to an exit code.
fn trace_main(args: &Args) -> ExitCode {
    let result = (|| {
        if !load::may_load_bpf() {
            return Err(TraceError::Load(LoadError::NotPrivileged));
        }
        let file = object_file(args)?;
        let object = load::read_object(file)?;
        let request = TraceRequest {
            file,
            pin_root: args.pin_root(),
            pin_links: args.pin_path.is_some(),
            attach_prog: args.attach_prog.as_deref(),
        };
        trace::flow::trace_object(&object, &request, &mut |line| println!("{line}"))
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xdploader: {error}");
            if let Some((program, log)) = error.verifier_log() {
                for line in loader::explain::verifier_log(program, log) {
                    eprintln!("{line}");
                }
            }
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

/// `-run` and the flags that go with it: the exit code when any of them is given.
/// (clap does not enforce `requires` when the required flag conflicts with another one
/// given, so `-pcap` with `-load-only` would otherwise pass unnoticed.)
fn dispatch_test_run(args: &Args) -> Option<ExitCode> {
    if args.run.is_some() {
        return Some(test_run_main(args));
    }
    let stray = [
        ("-pcap", args.pcap.is_some()),
        ("-repeat", args.repeat.is_some()),
        ("-out", args.out.is_some()),
        ("-json", args.json && !args.status),
    ]
    .into_iter()
    .find(|(_, given)| *given)?
    .0;
    eprintln!("xdploader: {stray} works only with -run PROG (or -json with -status); add -run or drop {stray}");
    Some(ExitCode::from(loader::ExitKind::Usage as u8))
}

/// `-run PROG -pcap IN`: runs the packets and maps the outcome to an exit code.
fn test_run_main(args: &Args) -> ExitCode {
    match test_run(args) {
        Ok(()) => {
            if let Some(phases) = timings::finish() {
                // With -json, stdout holds the JSON document alone.
                if args.json {
                    eprint!("{}", timings::report(&phases));
                } else {
                    print!("{}", timings::report(&phases));
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xdploader: {error}");
            if let RunError::Load(load_error) = &error {
                print_verifier_log(load_error);
            }
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

fn test_run(args: &Args) -> Result<(), RunError> {
    let (Some(program), Some(file), Some(pcap)) = (&args.run, &args.file, &args.pcap) else {
        return Err(RunError::Load(LoadError::Usage(
            "xdploader -run PROG needs -file OBJ and -pcap IN.pcap".into(),
        )));
    };
    if args.timings {
        timings::enable();
        timings::phase("parse");
    }
    let request = RunRequest {
        file,
        program,
        pcap,
        repeat: args.repeat,
        out: args.out.as_deref(),
        json: args.json,
        pin_root: args.pin_root(),
    };
    run::flow::run_capture(&request, &mut |line| match line {
        RunLine::Report(line) => println!("{line}"),
        RunLine::Note(line) => eprintln!("{line}"),
    })
}

fn object_file(args: &Args) -> Result<&PathBuf, LoadError> {
    args.file
        .as_ref()
        .ok_or_else(|| LoadError::Usage("xdploader needs -file OBJ".into()))
}
