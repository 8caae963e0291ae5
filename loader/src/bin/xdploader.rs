//! xdploader: load an XDP object, wire its tail calls, pin its maps, attach it.

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use loader::load::{self, LiveMap, RedirectEntry, XdpMode, DEFAULT_PIN_ROOT};
use loader::names::map_type_name;
use loader::LoadError;
use sys::abi::{BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH};

/// The map the original project writes each attached interface into.
const REDIRECT_MAP: &str = "if_redirect";
/// How much of a verifier log to show on the terminal; the end is where the error is.
const VERIFIER_LOG_TAIL_LINES: usize = 40;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Generic XDP: works on any interface.
    Skb,
    /// Native XDP in the driver.
    Drv,
    /// Offloaded to the NIC.
    Hw,
}

impl From<Mode> for XdpMode {
    fn from(mode: Mode) -> XdpMode {
        match mode {
            Mode::Skb => XdpMode::Skb,
            Mode::Drv => XdpMode::Drv,
            Mode::Hw => XdpMode::Hw,
        }
    }
}

/// Load an XDP ELF object, put <prog>_<N> into slot N of its prog array, pin the maps
/// that ask for it and attach <prog> to each interface.
///
/// Go-style single-dash flags work too: `xdploader -file kern/xdp.elf -i veth1`.
#[derive(Debug, Parser)]
#[command(name = "xdploader", version)]
struct Args {
    /// The eBPF ELF object (clang -target bpf).
    #[arg(long = "file", value_name = "OBJ")]
    file: PathBuf,
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
    #[arg(long = "prog", value_name = "NAME", default_value = "xdp_skeleton")]
    prog: String,
    /// XDP attach mode.
    #[arg(long = "mode", value_enum, default_value = "skb")]
    mode: Mode,
    /// The bpffs directory where maps are pinned by name.
    #[arg(long = "pin-path", value_name = "DIR", default_value = DEFAULT_PIN_ROOT)]
    pin_path: PathBuf,
}

fn main() -> ExitCode {
    let args: Args = match loader::cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xdploader: {error}");
            if let Some(log) = error.verifier_log() {
                print_verifier_log(log);
            }
            ExitCode::from(error.exit_kind() as u8)
        }
    }
}

fn print_verifier_log(log: &str) {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(VERIFIER_LOG_TAIL_LINES);
    eprintln!(
        "--- verifier log{} ---",
        if start > 0 {
            format!(" (last {VERIFIER_LOG_TAIL_LINES} of {} lines)", lines.len())
        } else {
            String::new()
        }
    );
    for line in &lines[start..] {
        eprintln!("{line}");
    }
    eprintln!("--- end of verifier log ---");
}

fn run(args: &Args) -> Result<(), LoadError> {
    let object = load::read_object(&args.file)?;
    if args.dump {
        print!(
            "{}",
            loader::dump::dump(&object, &args.file.display().to_string())
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

fn attach(args: &Args, object: &elf::Object) -> Result<(), LoadError> {
    let mode = XdpMode::from(args.mode);
    let entry = object
        .program(&args.prog)
        .ok_or_else(|| LoadError::NoSuchProgram {
            name: args.prog.clone(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
    let mut to_load = vec![entry];
    to_load.extend(
        load::tail_call_programs(object, &entry.name)
            .into_iter()
            .map(|(_, program)| program),
    );
    to_load.extend(
        load::statically_referenced_programs(object)
            .into_iter()
            .filter_map(|name| object.program(name)),
    );
    load::check_linkable(object, to_load)?;
    // Interfaces first: a typo should not cost a verifier run.
    let interfaces = args
        .interfaces
        .iter()
        .map(|name| load::interface_index(name).map(|index| (name.as_str(), index)))
        .collect::<Result<Vec<_>, _>>()?;
    if object
        .maps
        .iter()
        .any(|map| load::pin_path(map, &args.pin_path).is_some())
    {
        load::prepare_pin_root(&args.pin_path)?;
    }

    println!("Dumping info for ELF file {}", args.file.display());
    let (btf, maps) = create_maps(args, object)?;
    println!("Maps:");
    for map in &maps {
        let reused = match (&map.pin, map.reused) {
            (Some(path), true) => format!(" (reused from {})", path.display()),
            _ => String::new(),
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

    let tail_calls = load::tail_call_plan(object, entry)?;
    let mut loaded_tail_calls = Vec::new();
    let prog_array = match &tail_calls {
        None => None,
        Some((index, programs)) => {
            println!("Loading tail call jumps");
            for (slot, program) in programs {
                println!("Loading program name {}", program.name);
                let fd = load::load_program(object, program, &maps, btf.as_ref())?;
                loaded_tail_calls.push((*slot, program.name.as_str(), fd));
            }
            Some(&maps[*index])
        }
    };
    println!("Loading program name {}", entry.name);
    let entry_fd = load::load_program(object, entry, &maps, btf.as_ref())?;
    // Programs a prog array is initialised with (`.values = { [N] = &prog }`).
    let mut static_slot_programs = Vec::new();
    for name in load::statically_referenced_programs(object) {
        let already = name == entry.name
            || loaded_tail_calls
                .iter()
                .any(|(_, loaded, _)| *loaded == name);
        if let (false, Some(program)) = (already, object.program(name)) {
            println!("Loading program name {name}");
            static_slot_programs.push((
                name,
                load::load_program(object, program, &maps, btf.as_ref())?,
            ));
        }
    }
    let mut loaded: Vec<(&str, &sys::ProgFd)> = vec![(entry.name.as_str(), &entry_fd)];
    loaded.extend(loaded_tail_calls.iter().map(|(_, name, fd)| (*name, fd)));
    loaded.extend(static_slot_programs.iter().map(|(name, fd)| (*name, fd)));
    for (map, slot, name) in load::fill_program_slots(&maps, &loaded)? {
        println!("Inserting program {name} into slot {slot} of {map}");
    }

    if let Some(prog_array) = prog_array {
        for (slot, name, fd) in &loaded_tail_calls {
            println!(
                "Inserting program {name} (fd {}) into slot {slot} of {}",
                fd.as_raw_fd(),
                prog_array.spec.name
            );
            load::set_tail_call(prog_array, *slot, fd, name)?;
        }
        if prog_array.reused {
            let filled: Vec<u32> = loaded_tail_calls.iter().map(|(slot, _, _)| *slot).collect();
            for slot in load::clear_other_slots(prog_array, &filled)? {
                println!(
                    "Emptied slot {slot} of {}, left over from an earlier load",
                    prog_array.spec.name
                );
            }
        }
    }

    let pinned = load::pin_maps(&maps)?;
    for map in maps.iter().filter(|map| map.pin.is_some() && !map.reused) {
        if let Some(path) = &map.pin {
            println!("Pinned map {} at {}", map.spec.name, path.display());
        }
    }

    println!("Attaching program {}", entry.name);
    if let Err(error) = attach_all(&interfaces, &entry_fd, mode, &maps) {
        load::unpin(&pinned);
        return Err(error);
    }

    let names: Vec<&str> = interfaces.iter().map(|(name, _)| *name).collect();
    let pins: Vec<String> = maps
        .iter()
        .filter_map(|map| map.pin.as_ref().map(|path| path.display().to_string()))
        .collect();
    println!(
        "XDP code attached to {} in {} mode.",
        names.join(", "),
        mode.describe()
    );
    if !pins.is_empty() {
        println!(
            "Pinned maps stay until removed (the counters survive a reload): rm {}",
            pins.join(" ")
        );
    }
    let off: Vec<String> = names
        .iter()
        .map(|name| format!("ip link set dev {name} {} off", mode.ip_link_keyword()))
        .collect();
    println!("To turn it off, use `{}`", off.join(" && "));
    Ok(())
}

fn attach_all(
    interfaces: &[(&str, u32)],
    entry_fd: &sys::ProgFd,
    mode: XdpMode,
    maps: &[LiveMap],
) -> Result<(), LoadError> {
    let redirect = maps.iter().find(|map| {
        map.spec.name == REDIRECT_MAP
            && matches!(
                map.spec.map_type,
                BPF_MAP_TYPE_DEVMAP | BPF_MAP_TYPE_DEVMAP_HASH
            )
    });
    for (name, ifindex) in interfaces {
        println!("Looking for interface {name}");
        load::attach_xdp(name, *ifindex, entry_fd, mode)?;
        if let Some(devmap) = redirect {
            match load::add_redirect(devmap, *ifindex)? {
                RedirectEntry::Inserted => {
                    println!("Inserting ifIndex {ifindex} into {}", devmap.spec.name)
                }
                RedirectEntry::DoesNotFit { max_entries } => println!(
                    "Warning: ifIndex {ifindex} does not fit {} ({max_entries} entries): redirecting to {name} through it is not possible",
                    devmap.spec.name
                ),
            }
        }
    }
    Ok(())
}

/// `-load-only`: every map and every program into the kernel, pinned under the pin
/// directory, nothing attached. On failure, the pins made so far are removed.
fn load_only(args: &Args, object: &elf::Object) -> Result<(), LoadError> {
    load::check_linkable(object, &object.programs)?;
    load::prepare_pin_root(&args.pin_path)?;
    let (btf, maps) = create_maps(args, object)?;
    let mut pinned: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let mut programs = Vec::with_capacity(object.programs.len());
        for program in &object.programs {
            let fd = load::load_program(object, program, &maps, btf.as_ref())?;
            programs.push((program, fd));
        }
        let loaded: Vec<(&str, &sys::ProgFd)> = programs
            .iter()
            .map(|(program, fd)| (program.name.as_str(), fd))
            .collect();
        for (map, slot, name) in load::fill_program_slots(&maps, &loaded)? {
            println!("Inserted program {name} into slot {slot} of {map}");
        }
        if let Some((index, slots)) = object
            .program(&args.prog)
            .map(|entry| load::tail_call_plan(object, entry))
            .transpose()?
            .flatten()
        {
            let prog_array = &maps[index];
            for (slot, program) in slots {
                if let Some((_, fd)) = programs
                    .iter()
                    .find(|(loaded, _)| loaded.name == program.name)
                {
                    load::set_tail_call(prog_array, slot, fd, &program.name)?;
                    println!(
                        "Inserted program {} into slot {slot} of {}",
                        program.name, prog_array.kernel_name
                    );
                }
            }
        }
        for map in &maps {
            let path = match &map.pin {
                Some(path) => path.clone(),
                None => args.pin_path.join(load::pin_name(&map.kernel_name)),
            };
            if !map.reused {
                load::pin_object(map.fd.as_fd(), &path, &map.kernel_name)?;
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
            load::pin_object(fd.as_fd(), &path, &program.name)?;
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
        Ok(())
    })();
    if result.is_err() {
        load::unpin(&pinned);
    }
    result
}

/// The object's BTF and maps in the kernel.
fn create_maps(
    args: &Args,
    object: &elf::Object,
) -> Result<(Option<sys::btf::BtfFd>, Vec<LiveMap>), LoadError> {
    let btf = load_btf(object);
    let maps = load::create_maps(
        object,
        &load::object_name(&args.file),
        &args.pin_path,
        btf.as_ref().map(|fd| fd.as_raw_fd()),
    )?;
    Ok((btf, maps))
}

/// The object's BTF in the kernel, or `None` (with one line saying why) when the kernel
/// refused it: everything still loads, without source lines and field names.
fn load_btf(object: &elf::Object) -> Option<sys::btf::BtfFd> {
    match load::load_btf(object) {
        Ok(btf) => btf,
        Err(error) => {
            println!("Warning: the kernel refused the object's BTF ({error}); loading without it");
            None
        }
    }
}
