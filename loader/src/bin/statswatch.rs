//! statswatch: print the per-action packet and byte counters of a pinned stats map.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use loader::names::{map_type_name, xdp_action_name};
use loader::stats::{self, DATAREC_SIZE};
use loader::ExitKind;
use sys::abi::BPF_MAP_TYPE_PERCPU_ARRAY;
use sys::obj::PinnedMapError;

/// Print the XDP actions' packet and byte counters from a pinned per-CPU stats map,
/// summed over all possible CPUs.
///
/// Go-style single-dash flags work too: `statswatch -file /sys/fs/bpf/stats_map`.
#[derive(Debug, Parser)]
#[command(name = "statswatch", version)]
struct Args {
    /// The pinned map (a per-CPU array of struct datarec { u64 rx_packets; u64 rx_bytes; }).
    #[arg(
        long = "file",
        value_name = "PIN",
        default_value = "/sys/fs/bpf/stats_map"
    )]
    file: PathBuf,
}

struct Failure {
    kind: ExitKind,
    message: String,
}

fn main() -> ExitCode {
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

fn run(args: &Args) -> Result<(), Failure> {
    let path = args.file.display();
    let map = sys::obj::map_from_pin(&args.file).map_err(|error| match error {
        PinnedMapError::Open(error) if error.errno == nix::errno::Errno::ENOENT => Failure {
            kind: ExitKind::Environment,
            message: format!("no map is pinned at {path}; load the program first (sudo scripts/start.sh) or pass the right -file"),
        },
        PinnedMapError::Open(error) if error.is_permission() => Failure {
            kind: ExitKind::Environment,
            message: format!("cannot open {path}: {}; run it as root (sudo)", error.errno.desc()),
        },
        other => Failure {
            kind: ExitKind::BadObject,
            message: format!("cannot open {path} as a map: {other}"),
        },
    })?;
    let info = sys::map::map_info(map.as_fd()).map_err(|error| Failure {
        kind: ExitKind::KernelRefused,
        message: format!("cannot read what map {path} is: {error}"),
    })?;
    if info.map_type != BPF_MAP_TYPE_PERCPU_ARRAY
        || info.value_size != DATAREC_SIZE
        || info.key_size != 4
    {
        return Err(Failure {
            kind: ExitKind::BadObject,
            message: format!(
                "map {} at {path} is a {} with {}-byte keys and {}-byte values; statswatch reads a Per-CPU array with 4-byte keys and {DATAREC_SIZE}-byte values (struct datarec)",
                info.name,
                map_type_name(info.map_type),
                info.key_size,
                info.value_size
            ),
        });
    }
    let cpus = sys::cpus::possible_cpus().map_err(|error| Failure {
        kind: ExitKind::Environment,
        message: format!("cannot count the possible CPUs: {error}"),
    })?;
    println!(
        "Found map {} of type {}",
        info.name,
        map_type_name(info.map_type)
    );
    let mut buffer = vec![0u8; stats::per_cpu_stride(info.value_size) * cpus];
    for action in 0..info.max_entries {
        let found = sys::map::map_lookup_elem(map.as_fd(), &action.to_ne_bytes(), &mut buffer)
            .map_err(|error| Failure {
                kind: ExitKind::KernelRefused,
                message: format!("cannot read key {action} of {path}: {error}"),
            })?;
        let total = if found {
            stats::sum(&stats::per_cpu_datarecs(&buffer, cpus))
        } else {
            stats::DataRec::default()
        };
        println!("{}", stats::format_line(&xdp_action_name(action), total));
    }
    Ok(())
}
