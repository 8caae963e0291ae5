//! The benchmark's aya peer: `aya-load OBJ DIR` loads every XDP program of OBJ
//! with the aya crate and pins each one at DIR/<program>, as
//! `bpftool prog loadall OBJ DIR` and `xdploader -file OBJ -load-only
//! -pin-path DIR` do. Maps marked LIBBPF_PIN_BY_NAME are pinned under DIR.
//!
//! It uses aya the way its documentation shows (`EbpfLoader::new()`, which
//! reads the kernel's BTF from /sys/kernel/btf/vmlinux), so the figures are
//! what an aya user gets. Built only by scripts/bench.sh, never by the tests.
//!
//! Exit codes: 0 loaded, 1 usage, 2 aya refused the object or a program.

use std::path::Path;
use std::process::ExitCode;

use aya::programs::Program;
use aya::EbpfLoader;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: aya-load OBJ PIN_DIR");
        return ExitCode::from(1);
    }
    match run(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aya-load: {}: {e}", args[1]);
            ExitCode::from(2)
        }
    }
}

fn run(object: &Path, dir: &Path) -> Result<(), String> {
    // bpftool creates its pin directory too.
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(dir)
        .load_file(object)
        .map_err(|e| format!("loading the object failed: {e:#?}"))?;
    let mut loaded = 0;
    for (name, program) in ebpf.programs_mut() {
        match program {
            Program::Xdp(xdp) => {
                xdp.load()
                    .map_err(|e| format!("loading program {name} failed: {e}"))?;
            }
            other => {
                return Err(format!(
                    "program {name} is of type {:?}, which this benchmark peer does not load",
                    other.prog_type()
                ))
            }
        }
        program
            .pin(dir.join(name))
            .map_err(|e| format!("pinning program {name} failed: {e}"))?;
        loaded += 1;
    }
    if loaded == 0 {
        return Err("the object has no program".into());
    }
    Ok(())
}
