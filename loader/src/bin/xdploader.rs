//! xdploader: load an XDP object, wire its tail calls, pin its maps, attach it.

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use loader::attach::modes::ModeRequest;
use loader::attach::redirect::RedirectEntry;
use loader::attach::status::Method;
use loader::attach::xdp::{AttachOptions, AttachOutcome};
use loader::attach::{self};
use loader::load::chain::{self, ChainNode};
use loader::load::tracefs;
use loader::load::{self, maps::LiveMap};
use loader::run::{self as test_runs, RunError};
use loader::timings;
use loader::vocab::{map_type_name, same_program_name, XdpMode, DEFAULT_PIN_ROOT, DEFAULT_PROG};
use loader::LoadError;
use sys::abi::{BPF_ANY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_PROG_ARRAY};

/// The map the original project writes each attached interface into.
const REDIRECT_MAP: &str = "if_redirect";

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
    /// Interfaces to attach to, comma-separated.
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
    /// The entry program to attach; <prog>_<N> goes into slot N of the prog array.
    #[arg(long = "prog", value_name = "NAME", default_value = DEFAULT_PROG)]
    prog: String,
    /// XDP attach mode.
    #[arg(long = "mode", value_enum, default_value = "skb")]
    mode: Mode,
    /// The bpffs directory where maps are pinned by name.
    #[arg(long = "pin-path", value_name = "DIR", default_value = DEFAULT_PIN_ROOT)]
    pin_path: PathBuf,
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

fn main() -> ExitCode {
    sys::process::default_sigpipe();
    let args: Args = match loader::cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Some(code) = dispatch_test_run(&args) {
        return code;
    }
    match run(&args) {
        Ok(()) => {
            if let Some(phases) = timings::finish() {
                print!("{}", timings::report(&phases));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xdploader: {error}");
            if let (Some(log), LoadError::ProgLoad(refused)) = (error.verifier_log(), &error) {
                print_verifier_log(&refused.name, log);
            }
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

/// Shows the end of the verifier log and where the whole of it was saved.
fn print_verifier_log(program: &str, log: &str) {
    for line in loader::explain::verifier_log(program, log) {
        eprintln!("{line}");
    }
}

fn run(args: &Args) -> Result<(), LoadError> {
    // Everything but -dump talks to the kernel's BPF side.
    if !args.dump && !load::may_load_bpf() {
        return Err(LoadError::NotPrivileged);
    }
    if args.status {
        return status(args);
    }
    if args.detach {
        return detach(args);
    }
    if args.timings {
        timings::enable();
        timings::phase("parse");
    }
    let file = object_file(args)?;
    let object = load::read_object(file)?;
    if args.dump {
        print!(
            "{}",
            loader::dump::dump(&object, &file.display().to_string())
        );
        return Ok(());
    }
    if args.load_only {
        return load_only(args, &object);
    }
    if args.interfaces.is_empty() {
        return Err(LoadError::Usage(
            "xdploader needs -i IF[,IF...] to attach; use -dump to inspect or -load-only to verify without attaching"
                .into(),
        ));
    }
    attach(args, &object)
}

fn object_file(args: &Args) -> Result<&PathBuf, LoadError> {
    args.file
        .as_ref()
        .ok_or_else(|| LoadError::Usage("xdploader needs -file OBJ".into()))
}

fn attach(args: &Args, object: &elf::Object) -> Result<(), LoadError> {
    let file = object_file(args)?;
    let entry = object
        .program(&args.prog)
        .ok_or_else(|| LoadError::NoSuchProgram {
            name: args.prog.clone(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
    load::programs::check_linkable(object, load::tail_calls::chain_programs(object, entry))?;
    // Interfaces first: a typo should not cost a verifier run.
    let interfaces = args
        .interfaces
        .iter()
        .map(|name| attach::preflight::interface_index(name).map(|index| (name.as_str(), index)))
        .collect::<Result<Vec<_>, _>>()?;
    let _locks = interfaces
        .iter()
        .map(|(name, _)| attach::preflight::lock_interface(name))
        .collect::<Result<Vec<_>, _>>()?;
    attach::preflight::check_not_ours(&interfaces, &entry.name, args.force)?;
    let created = if object
        .maps
        .iter()
        .any(|map| load::pins::pin_path(map, &args.pin_path).is_some())
        || args.link
    {
        load::pins::prepare_pin_root(&args.pin_path)?
    } else {
        load::pins::CreatedDirs::default()
    };
    let result = attach_prepared(args, object, entry, &interfaces, file);
    if result.is_err() {
        created.remove_if_empty();
    }
    result
}

/// The attach flow once the interfaces are known and the pin directory exists.
fn attach_prepared(
    args: &Args,
    object: &elf::Object,
    entry: &elf::ProgramSpec,
    interfaces: &[(&str, u32)],
    file: &std::path::Path,
) -> Result<(), LoadError> {
    println!("Dumping info for ELF file {}", file.display());
    let (btf, mut maps) = create_maps(args, object)?;
    let shared = share_running_chain_maps(&mut maps, &entry.name, interfaces);
    println!("Maps:");
    for (index, map) in maps.iter().enumerate() {
        let reused = match (&map.pin, map.reused) {
            (Some(path), true) => format!(" (reused from {})", path.display()),
            _ => match shared.iter().find(|(shared, _)| *shared == index) {
                Some((_, id)) => format!(" (shared with the running chain, id {id})"),
                None => String::new(),
            },
        };
        println!(
            "\t{}: {}, Fd {}{reused}",
            map.kernel_name,
            map_type_name(map.spec.map_type),
            map.fd.as_raw_fd()
        );
    }
    println!();
    println!("Programs:");
    let license = object.license.as_deref().unwrap_or("");
    for program in &object.programs {
        println!(
            "\t{}: {}, size {}, license \"{license}\"",
            program.name,
            program.program_type.name(),
            program.size_bytes()
        );
    }
    println!();

    timings::phase("programs");
    let tail_calls = load::tail_calls::tail_call_plan(object, entry)?;
    let chain = load::programs::load_chain(
        object,
        entry,
        tail_calls.as_ref(),
        &maps,
        btf.as_ref(),
        |step| match step {
            load::programs::ChainStep::TailCalls => println!("Loading tail call jumps"),
            load::programs::ChainStep::Program(name) => println!("Loading program name {name}"),
        },
    )?;
    let prog_array = tail_calls.as_ref().map(|(index, _)| &maps[*index]);
    timings::phase("tail calls");
    let loaded = chain.all(&entry.name);
    for (map, slot, name) in load::tail_calls::fill_program_slots(&maps, &loaded)? {
        println!("Inserting program {name} into slot {slot} of {map}");
    }

    // A reused prog array is live: if this run fails, its slots go back as they were.
    let mut slot_guard = prog_array
        .filter(|prog_array| prog_array.reused)
        .map(SlotGuard::save);
    if let Some(prog_array) = prog_array {
        for (slot, name, fd) in &chain.tail_calls {
            println!(
                "Inserting program {name} (fd {}) into slot {slot} of {}",
                fd.as_raw_fd(),
                prog_array.spec.name
            );
            load::tail_calls::set_tail_call(prog_array, *slot, fd, name)?;
        }
        if prog_array.reused {
            let filled: Vec<u32> = chain.tail_calls.iter().map(|(slot, _, _)| *slot).collect();
            for slot in load::tail_calls::clear_other_slots(prog_array, &filled)? {
                println!(
                    "Emptied slot {slot} of {}, left over from an earlier load",
                    prog_array.spec.name
                );
            }
        }
    }

    check_chain(args, object, entry, &chain)?;
    let used_maps: Vec<u32> = loaded
        .iter()
        .filter_map(|(_, fd)| sys::prog::prog_info(fd.as_fd()).ok())
        .flat_map(|info| info.map_ids)
        .collect();
    load::programs::bind_unused_maps(&chain.entry, &maps, &used_maps);

    timings::phase("pin");
    let pinned = load::pins::pin_maps(&maps)?;
    for map in maps.iter().filter(|map| map.pin.is_some() && !map.reused) {
        if let Some(path) = &map.pin {
            println!("Pinned map {} at {}", map.spec.name, path.display());
        }
    }

    timings::phase("attach");
    println!("Attaching program {}", entry.name);
    let frags = matches!(
        entry.program_type,
        elf::ProgramType::Xdp { frags: true, .. }
    );
    let options = AttachOptions {
        mode: ModeRequest::from(args.mode),
        force: args.force,
        link: args.link,
        pin_root: &args.pin_path,
        frags,
    };
    let attached = match attach_all(interfaces, &chain.entry, &entry.name, &options, &maps) {
        Ok(attached) => attached,
        Err(error) => {
            load::pins::unpin(&pinned);
            return Err(error);
        }
    };

    let pins: Vec<String> = maps
        .iter()
        .filter_map(|map| map.pin.as_ref().map(|path| path.display().to_string()))
        .collect();
    for (name, outcome) in &attached {
        let how = match &outcome.link_pin {
            Some(pin) => format!(" through a BPF link pinned at {}", pin.display()),
            None => String::new(),
        };
        println!(
            "XDP code attached to {name} in {} mode{how}.",
            outcome.mode.describe()
        );
    }
    for line in tracefs::printk_note(object) {
        println!("{line}");
    }
    if !pins.is_empty() {
        println!(
            "Pinned maps stay until removed (the counters survive a reload): rm {}",
            pins.join(" ")
        );
    }
    let off: Vec<String> = attached
        .iter()
        .map(|(name, outcome)| match &outcome.link_pin {
            Some(pin) => format!("rm {}", pin.display()),
            None => format!(
                "ip link set dev {name} {} off",
                outcome.mode.ip_link_keyword()
            ),
        })
        .collect();
    println!("To turn it off, use `{}`", off.join(" && "));
    if let Some(guard) = slot_guard.as_mut() {
        guard.keep();
    }
    Ok(())
}

/// What a reused (live) prog array held before this run changed it; `Drop` puts it back
/// unless the run succeeded (`keep`).
struct SlotGuard<'a> {
    prog_array: &'a LiveMap,
    /// Every slot, with the program it held (kept open so it cannot go away).
    slots: Vec<(u32, Option<sys::ProgFd>)>,
    restore: bool,
}

impl<'a> SlotGuard<'a> {
    fn save(prog_array: &'a LiveMap) -> SlotGuard<'a> {
        let filled =
            load::tail_calls::prog_array_slots(prog_array.fd.as_fd(), prog_array.spec.max_entries);
        let slots = (0..prog_array.spec.max_entries)
            .map(|slot| {
                let program = filled
                    .iter()
                    .find(|(filled, _)| *filled == slot)
                    .and_then(|(_, id)| sys::prog::prog_fd_by_id(*id).ok());
                (slot, program)
            })
            .collect();
        SlotGuard {
            prog_array,
            slots,
            restore: true,
        }
    }

    fn keep(&mut self) {
        self.restore = false;
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if !self.restore {
            return;
        }
        let map = self.prog_array.fd.as_fd();
        for (slot, program) in &self.slots {
            let key = slot.to_ne_bytes();
            // Best effort: this runs on the way out of a failed run.
            let _ = match program {
                Some(fd) => {
                    let value = (fd.as_raw_fd() as u32).to_ne_bytes();
                    sys::map::map_update_elem(map, &key, &value, BPF_ANY)
                }
                None => sys::map::map_delete_elem(map, &key).map(drop),
            };
        }
    }
}

/// A reload joins the chain that is running. Its prog array is pinned and reused, so the
/// programs already in its slots (and the entry programs on the interfaces) stay wired to
/// it until the new entry program replaces them; the maps those programs share without a
/// pin (kern/xdp.c's `tail_call` scratch map) must be the same for the old and the new
/// programs, or an old entry program tail-calling into a new program reads another map.
/// Replaces each such map of `maps` with the running one when its name and shape match.
/// Returns (index in `maps`, id of the running map) for each map shared.
fn share_running_chain_maps(
    maps: &mut [LiveMap],
    entry: &str,
    interfaces: &[(&str, u32)],
) -> Vec<(usize, u32)> {
    let mut programs: Vec<u32> = Vec::new();
    for map in maps
        .iter()
        .filter(|map| map.reused && map.spec.map_type == BPF_MAP_TYPE_PROG_ARRAY)
    {
        programs.extend(
            load::tail_calls::prog_array_slots(map.fd.as_fd(), map.spec.max_entries)
                .into_iter()
                .map(|(_, id)| id),
        );
    }
    if programs.is_empty() {
        // No live chain: this load's programs only ever see each other's maps.
        return Vec::new();
    }
    for (name, ifindex) in interfaces {
        if let Ok(Some(current)) = attach::status::attached(name, *ifindex) {
            if same_program_name(&current.name, entry) {
                programs.push(current.prog_id);
            }
        }
    }
    let mut running: Vec<u32> = Vec::new();
    for program in programs {
        for id in attach::status::reachable_maps(program).0 {
            if !running.contains(&id) {
                running.push(id);
            }
        }
    }
    let mut running: Vec<(u32, sys::MapFd, sys::map::MapInfo)> = running
        .into_iter()
        .filter_map(|id| {
            let fd = sys::map::map_fd_by_id(id).ok()?;
            let info = sys::map::map_info(fd.as_fd()).ok()?;
            Some((id, fd, info))
        })
        .collect();
    let mut shared = Vec::new();
    for (index, map) in maps.iter_mut().enumerate() {
        let spec = &map.spec;
        let shareable = !map.reused
            && map.pin.is_none()
            && spec.inner.is_none()
            && spec.initial_slots.is_empty()
            && spec.map_type != BPF_MAP_TYPE_PROG_ARRAY
            && !matches!(spec.origin, elf::MapOrigin::GlobalData { .. });
        if !shareable {
            continue;
        }
        let found = running.iter().position(|(_, _, info)| {
            info.name == map.kernel_name
                && info.map_type == spec.map_type
                && info.key_size == spec.key_size
                && info.value_size == spec.value_size
                && info.max_entries == spec.max_entries
                && info.map_flags == spec.map_flags
        });
        if let Some(position) = found {
            let (id, fd, _) = running.swap_remove(position);
            // The map created for this load is closed (and freed) here.
            map.fd = fd;
            shared.push((index, id));
        }
    }
    shared
}

/// Reads the tail-call slots each program's code jumps to, prints the chain, and warns
/// (or with -strict, fails) about slots that no program fills.
fn check_chain(
    args: &Args,
    object: &elf::Object,
    entry: &elf::ProgramSpec,
    chain: &load::programs::LoadedChain<'_>,
) -> Result<(), LoadError> {
    let names: Vec<&str> = chain
        .all(&entry.name)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let nodes: Vec<ChainNode> = names
        .iter()
        .filter_map(|name| object.program(name))
        .map(|program| ChainNode {
            name: program.name.clone(),
            jumps: object
                .link(program)
                .map(|linked| chain::tail_call_slots(&linked.insns))
                .unwrap_or_default(),
        })
        .collect();
    if nodes.iter().all(|node| node.jumps.is_empty()) {
        return Ok(());
    }
    let mut filled: Vec<(u32, String)> = chain
        .tail_calls
        .iter()
        .map(|(slot, name, _)| (*slot, name.to_string()))
        .collect();
    for map in &object.maps {
        for (slot, target) in &map.initial_slots {
            if let elf::InitialSlot::Program(name) = target {
                filled.push((*slot, name.clone()));
            }
        }
    }
    let (lines, empty) = chain::describe(&entry.name, &nodes, &filled);
    for line in lines {
        println!("Tail-call chain: {line}");
    }
    let prog_array = load::tail_calls::find_prog_array(object, entry)
        .ok()
        .map_or_else(
            || "the prog array".to_string(),
            |index| object.maps[index].name.clone(),
        );
    for (program, slot) in empty {
        if args.strict {
            return Err(LoadError::EmptyTailCallSlot {
                program,
                slot,
                map: prog_array,
            });
        }
        println!(
            "Warning: {program} tail-calls slot {slot} of {prog_array}, which no program fills"
        );
    }
    Ok(())
}

/// Attaches to every interface; if one fails, the ones already done are put back as
/// they were.
fn attach_all<'a>(
    interfaces: &[(&'a str, u32)],
    entry_fd: &sys::ProgFd,
    entry: &str,
    options: &AttachOptions<'_>,
    maps: &[LiveMap],
) -> Result<Vec<(&'a str, AttachOutcome)>, LoadError> {
    let redirect = maps.iter().find(|map| {
        map.spec.name == REDIRECT_MAP
            && matches!(
                map.spec.map_type,
                BPF_MAP_TYPE_DEVMAP | BPF_MAP_TYPE_DEVMAP_HASH
            )
    });
    let mut done: Vec<(&str, AttachOutcome)> = Vec::new();
    for (name, ifindex) in interfaces {
        println!("Looking for interface {name}");
        let outcome = attach::xdp::attach(name, *ifindex, entry_fd, entry, options, &mut |line| {
            println!("{line}")
        });
        let roll_back = |done: Vec<(&str, AttachOutcome)>| {
            for (done_name, outcome) in done.into_iter().rev() {
                println!("Rolling back {done_name}");
                attach::rollback::undo(outcome.undo);
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                roll_back(done);
                return Err(error);
            }
        };
        if let Some(devmap) = redirect {
            // A failed insert (the interface went away meanwhile) fails the run: every
            // interface, this one included, goes back as it was.
            let entry = match attach::redirect::add_redirect(devmap, *ifindex) {
                Ok(entry) => entry,
                Err(error) => {
                    done.push((name, outcome));
                    roll_back(done);
                    return Err(error);
                }
            };
            match entry {
                RedirectEntry::Inserted => {
                    println!("Inserting ifIndex {ifindex} into {}", devmap.spec.name)
                }
                RedirectEntry::DoesNotFit { max_entries } => println!(
                    "Warning: ifIndex {ifindex} does not fit {} ({max_entries} entries): redirecting to {name} through it is not possible",
                    devmap.spec.name
                ),
            }
        }
        done.push((name, outcome));
    }
    Ok(done)
}

/// The interfaces `-i` names, or all of them.
fn interfaces_of(args: &Args) -> Result<Vec<(String, u32)>, LoadError> {
    if args.interfaces.is_empty() {
        return sys::iface::interfaces().map_err(LoadError::ListInterfaces);
    }
    args.interfaces
        .iter()
        .map(|name| attach::preflight::interface_index(name).map(|index| (name.clone(), index)))
        .collect()
}

/// `-detach`: takes the program off each interface and unpins what it used.
fn detach(args: &Args) -> Result<(), LoadError> {
    for (name, ifindex) in interfaces_of(args)? {
        let _lock = attach::preflight::lock_interface(&name)?;
        let Some(current) = attach::status::attached(&name, ifindex)? else {
            println!("Nothing attached to {name}");
            continue;
        };
        attach::preflight::ensure_ours(&name, &current, &args.prog, args.force, true)?;
        // The maps it reaches, read while it is still attached (it may go right after).
        let (map_ids, _) = attach::status::reachable_maps(current.prog_id);
        let pins = if args.keep_maps {
            Vec::new()
        } else {
            attach::status::map_pins(&args.pin_path, &map_ids)
        };
        let removed_links = attach::detach::detach(&name, ifindex, &args.pin_path)?
            .map(|(_, pins)| pins)
            .unwrap_or_default();
        let how = match current.method {
            Method::Link { id } => format!("BPF link {id}"),
            Method::Netlink => "netlink".to_string(),
        };
        println!(
            "Detached {} (id {}, {} mode, {how}) from {name}",
            current.name,
            current.prog_id,
            current.mode.describe()
        );
        for pin in removed_links {
            println!("Removed pin {}", pin.display());
        }
        for pin in pins {
            if std::fs::remove_file(&pin).is_ok() {
                println!("Removed pin {}", pin.display());
            }
        }
    }
    Ok(())
}

fn map_summary(map_id: u32, pin_root: &std::path::Path) -> serde_json::Value {
    let info = sys::map::map_fd_by_id(map_id).and_then(|fd| sys::map::map_info(fd.as_fd()));
    let pins: Vec<String> = attach::status::map_pins(pin_root, &[map_id])
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    match info {
        Ok(info) => serde_json::json!({
            "id": map_id,
            "name": info.name,
            "type": map_type_name(info.map_type),
            "pins": pins,
        }),
        Err(_) => serde_json::json!({ "id": map_id, "pins": pins }),
    }
}

fn prog_name(id: u32) -> String {
    sys::prog::prog_fd_by_id(id)
        .and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        .map(|info| info.name)
        .unwrap_or_default()
}

/// `-status`: per interface, what is attached and what it uses.
fn status(args: &Args) -> Result<(), LoadError> {
    let mut report = Vec::new();
    for (name, ifindex) in interfaces_of(args)? {
        let current = attach::status::attached(&name, ifindex)?;
        let entry = match &current {
            None => serde_json::json!({ "interface": name, "ifindex": ifindex, "attached": null }),
            Some(current) => {
                let (map_ids, slots) = attach::status::reachable_maps(current.prog_id);
                let (method, link_id, link_pins) = match current.method {
                    Method::Link { id } => {
                        let pins: Vec<String> = attach::status::pins_of(&args.pin_path, |fd| {
                            sys::obj::object_kind(fd) == sys::obj::ObjectKind::Link
                                && sys::link::link_info(fd).is_ok_and(|info| info.id == id)
                        })
                        .iter()
                        .map(|path| path.display().to_string())
                        .collect();
                        ("link", Some(id), pins)
                    }
                    Method::Netlink => ("netlink", None, Vec::new()),
                };
                serde_json::json!({
                    "interface": name,
                    "ifindex": ifindex,
                    "attached": {
                        "id": current.prog_id,
                        "name": current.name,
                        "mode": current.mode.ip_link_keyword().trim_start_matches("xdp"),
                        "method": method,
                        "link_id": link_id,
                        "link_pins": link_pins,
                    },
                    "tail_calls": slots.iter().map(|(map_id, map, slot, prog_id)| serde_json::json!({
                        "map": map, "map_id": map_id, "slot": slot, "program_id": prog_id, "program": prog_name(*prog_id),
                    })).collect::<Vec<_>>(),
                    "maps": map_ids.iter().map(|id| map_summary(*id, &args.pin_path)).collect::<Vec<_>>(),
                })
            }
        };
        report.push(entry);
    }
    if args.json {
        println!("{}", serde_json::json!({ "interfaces": report }));
        return Ok(());
    }
    for entry in &report {
        let name = entry["interface"].as_str().unwrap_or_default();
        let attached = &entry["attached"];
        if attached.is_null() {
            println!("{name} (ifindex {}): no XDP program", entry["ifindex"]);
            continue;
        }
        let method = match attached["link_id"].as_u64() {
            Some(id) => format!("BPF link {id}"),
            None => "netlink".to_string(),
        };
        println!(
            "{name} (ifindex {}): {} (id {}), {} mode, attached via {method}",
            entry["ifindex"],
            attached["name"].as_str().unwrap_or_default(),
            attached["id"],
            attached["mode"].as_str().unwrap_or_default()
        );
        for pin in attached["link_pins"].as_array().into_iter().flatten() {
            println!("  link pinned at {}", pin.as_str().unwrap_or_default());
        }
        for slot in entry["tail_calls"].as_array().into_iter().flatten() {
            println!(
                "  tail call: {}[{}] = {} (id {})",
                slot["map"].as_str().unwrap_or_default(),
                slot["slot"],
                slot["program"].as_str().unwrap_or_default(),
                slot["program_id"]
            );
        }
        for map in entry["maps"].as_array().into_iter().flatten() {
            let pins: Vec<&str> = map["pins"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pin| pin.as_str())
                .collect();
            let pinned = if pins.is_empty() {
                "not pinned".to_string()
            } else {
                format!("pinned at {}", pins.join(", "))
            };
            println!(
                "  map: {} (id {}, {}) {pinned}",
                map["name"].as_str().unwrap_or_default(),
                map["id"],
                map["type"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `-load-only`: every map and every program into the kernel, pinned under the pin
/// directory, nothing attached. On failure, the pins made so far are removed.
fn load_only(args: &Args, object: &elf::Object) -> Result<(), LoadError> {
    // Any object can be verified without naming an entry program, but one named with
    // -prog must exist (its tail calls are wired by its name).
    if args.prog != DEFAULT_PROG && object.program(&args.prog).is_none() {
        return Err(LoadError::NoSuchProgram {
            name: args.prog.clone(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        });
    }
    load::programs::check_linkable(object, &object.programs)?;
    // A tail-call slot beyond the prog array is known before any verifier run.
    if let Some(entry) = object.program(&args.prog) {
        load::tail_calls::tail_call_plan(object, entry)?;
    }
    let created = load::pins::prepare_pin_root(&args.pin_path)?;
    let result = load_only_prepared(args, object);
    if result.is_err() {
        created.remove_if_empty();
    }
    result
}

fn load_only_prepared(args: &Args, object: &elf::Object) -> Result<(), LoadError> {
    let (btf, maps) = create_maps(args, object)?;
    let mut pinned: Vec<PathBuf> = Vec::new();
    let result = (|| {
        timings::phase("programs");
        let mut programs = Vec::with_capacity(object.programs.len());
        for program in &object.programs {
            let fd = load::programs::load_program(object, program, &maps, btf.as_ref())?;
            programs.push((program, fd));
        }
        timings::phase("tail calls");
        let loaded: Vec<(&str, &sys::ProgFd)> = programs
            .iter()
            .map(|(program, fd)| (program.name.as_str(), fd))
            .collect();
        for (map, slot, name) in load::tail_calls::fill_program_slots(&maps, &loaded)? {
            println!("Inserted program {name} into slot {slot} of {map}");
        }
        if let Some((index, slots)) = object
            .program(&args.prog)
            .map(|entry| load::tail_calls::tail_call_plan(object, entry))
            .transpose()?
            .flatten()
        {
            let prog_array = &maps[index];
            for (slot, program) in slots {
                if let Some((_, fd)) = programs
                    .iter()
                    .find(|(loaded, _)| loaded.name == program.name)
                {
                    load::tail_calls::set_tail_call(prog_array, slot, fd, &program.name)?;
                    println!(
                        "Inserted program {} into slot {slot} of {}",
                        program.name, prog_array.kernel_name
                    );
                }
            }
        }
        timings::phase("pin");
        for map in &maps {
            let path = match &map.pin {
                Some(path) => path.clone(),
                None => args.pin_path.join(load::pins::pin_name(&map.kernel_name)),
            };
            if !map.reused {
                load::pins::pin_object(map.fd.as_fd(), &path, &map.kernel_name)?;
                pinned.push(path.clone());
            }
            let id = sys::map::map_info(map.fd.as_fd())
                .map(|info| info.id)
                .unwrap_or(0);
            println!(
                "Map {} (id {id}) pinned at {}",
                map.kernel_name,
                path.display()
            );
        }
        for (program, fd) in &programs {
            let path = args.pin_path.join(&program.name);
            load::pins::pin_object(fd.as_fd(), &path, &program.name)?;
            pinned.push(path.clone());
            let id = sys::prog::prog_info(fd.as_fd())
                .map(|info| info.id)
                .unwrap_or(0);
            println!(
                "Program {} (id {id}) pinned at {}",
                program.name,
                path.display()
            );
        }
        for line in tracefs::printk_note(object) {
            println!("{line}");
        }
        Ok(())
    })();
    if result.is_err() {
        load::pins::unpin(&pinned);
    }
    result
}

/// The object's BTF and maps in the kernel.
fn create_maps(
    args: &Args,
    object: &elf::Object,
) -> Result<(Option<sys::btf::BtfFd>, Vec<LiveMap>), LoadError> {
    timings::phase("BTF");
    let btf = load_btf(object);
    timings::phase("maps");
    let maps = load::maps::create_maps(
        object,
        &load::maps::object_name(args.file.as_deref().unwrap_or(std::path::Path::new(""))),
        &args.pin_path,
        btf.as_ref().map(|fd| fd.as_raw_fd()),
    )?;
    Ok((btf, maps))
}

/// The object's BTF in the kernel, or `None` (with one line saying why) when the kernel
/// refused it: everything still loads, without source lines and field names.
fn load_btf(object: &elf::Object) -> Option<sys::btf::BtfFd> {
    match load::btf::load_btf(object) {
        Ok(btf) => btf,
        Err(error) => {
            println!("Warning: the kernel refused the object's BTF ({error}); loading without it");
            None
        }
    }
}

// ---------------------------------------------------------------------------
// -run: test runs over the packets of a capture (BPF_PROG_TEST_RUN).
// ---------------------------------------------------------------------------

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
                if let (Some(log), LoadError::ProgLoad(refused)) =
                    (load_error.verifier_log(), load_error)
                {
                    print_verifier_log(&refused.name, log);
                }
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
    let object = load::read_object(file)?;
    // The capture before the kernel: a bad file should not cost a verifier run.
    let bytes = std::fs::read(pcap).map_err(|error| RunError::ReadCapture {
        path: pcap.clone(),
        error,
    })?;
    let capture = test_runs::pcap::read_capture(&bytes).map_err(|error| RunError::Capture {
        path: pcap.clone(),
        error,
    })?;
    drop(bytes);

    let loaded = test_runs::prepare::load_for_run(
        &object,
        &load::maps::object_name(file),
        &args.pin_path,
        program,
    )?;
    let entry = object
        .program(program)
        .ok_or_else(|| RunError::NoSuchProgram {
            name: program.clone(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
    for note in &loaded.notes {
        eprintln!("{note}");
    }
    let repeat = args.repeat.unwrap_or(1);
    if args.json {
        for line in tracefs::printk_note(&object) {
            eprintln!("{line}");
        }
    } else {
        println!("Loaded program {program} from {}", file.display());
        for (map, slot, name) in &loaded.wiring {
            println!("Inserted program {name} into slot {slot} of {map}");
        }
        for (map, path) in &loaded.pinned {
            println!("Pinned map {map} at {}", path.display());
        }
        for line in tracefs::printk_note(&object) {
            println!("{line}");
        }
        let runs = if repeat > 1 {
            format!(", {repeat} runs each")
        } else {
            String::new()
        };
        println!(
            "Running {} packets of {} ({}) through {program}{runs}",
            capture.packets.len(),
            pcap.display(),
            capture.format.name()
        );
    }

    timings::phase("test runs");
    let mut notes = Vec::new();
    let (results, context) =
        test_runs::test_runs::run_packets(&loaded.entry, entry, &capture, repeat, &mut notes)?;
    for note in &notes {
        eprintln!("{note}");
    }
    let summary = test_runs::report::summarize(&results);

    let written = match &args.out {
        Some(path) => {
            let packets = test_runs::report::output_packets(&capture, &results);
            let nanos = matches!(
                capture.format,
                test_runs::pcap::CaptureFormat::PcapNg
                    | test_runs::pcap::CaptureFormat::Pcap { nanos: true }
            );
            write_out(path, &packets, nanos)?;
            Some((path, packets.len()))
        }
        None => None,
    };

    let info = test_runs::report::RunInfo {
        object: file.display().to_string(),
        program: program.clone(),
        capture: pcap.display().to_string(),
        format: capture.format,
        repeat,
        context,
    };
    if args.json {
        let mut report = test_runs::report::json_report(&info, &results, &summary);
        if let Some((path, packets)) = written {
            report["out"] = serde_json::json!({
                "path": path.display().to_string(),
                "packets": packets,
            });
        }
        println!("{report}");
        return Ok(());
    }
    let timed = args.repeat.is_some();
    println!("{}", test_runs::report::text_header(timed));
    for result in &results {
        println!("{}", test_runs::report::text_row(result, timed));
    }
    for line in test_runs::report::text_summary(&info, &summary, timed) {
        println!("{line}");
    }
    if let Some((path, packets)) = written {
        println!(
            "Wrote {packets} packets (XDP_PASS and XDP_TX, as the program left them) to {}",
            path.display()
        );
    }
    Ok(())
}

/// Writes the `-out` capture.
fn write_out(
    path: &std::path::Path,
    packets: &[test_runs::pcap::CapturedPacket],
    nanos: bool,
) -> Result<(), RunError> {
    let write_error = |reason: String| RunError::WriteOut {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::create(path).map_err(|error| write_error(error.to_string()))?;
    test_runs::pcap::write_pcap(std::io::BufWriter::new(file), packets, nanos).map_err(|error| {
        let reason = match error {
            pcap_file::PcapError::IoError(error) => error.to_string(),
            other => other.to_string(),
        };
        write_error(reason)
    })
}
