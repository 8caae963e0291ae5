//! Builds kern/xdp_exceptions.c (the program of `statswatch -exceptions`) with clang into
//! OUT_DIR, so the binary carries it and needs no file at run time. Without clang the
//! loader still builds: the object is empty and `-exceptions` says in one sentence how
//! to get it (install clang and rebuild).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let source = manifest.join("../kern/xdp_exceptions.c");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("xdp_exceptions.elf");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    // The flags of kern/bpf.mk; Debian's <asm/types.h> is under the multiarch directory.
    let mut args: Vec<String> = ["-O2", "-g", "-Wall", "-target", "bpf"]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
    if let Ok(output) = Command::new("gcc").arg("-print-multiarch").output() {
        let multiarch = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !multiarch.is_empty() {
            args.push(format!("-I/usr/include/{multiarch}"));
        }
    }
    if let Some(dir) = source.parent() {
        args.push(format!("-ffile-prefix-map={}=.", dir.display()));
    }
    args.extend([
        "-c".to_string(),
        source.display().to_string(),
        "-o".to_string(),
    ]);
    args.push(out.display().to_string());
    let why = match Command::new(&clang).args(&args).output() {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "{clang} failed on kern/xdp_exceptions.c: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .find(|line| line.contains("error"))
                .unwrap_or("no error message")
        )),
        Err(error) => Some(format!("{clang} could not be run ({error})")),
    };
    if let Some(why) = why {
        println!("cargo:warning=statswatch -exceptions will be unavailable: {why}");
        let _ = std::fs::write(&out, b"");
        println!("cargo:rustc-env=XDP_EXCEPTIONS_UNBUILT={why}");
    } else {
        println!("cargo:rustc-env=XDP_EXCEPTIONS_UNBUILT=");
    }
}
