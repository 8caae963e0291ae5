//! BTF and `.BTF.ext` of real clang-built objects: this repository's `kern/` build
//! and the XDP objects Debian's libxdp1 installs. Each test says "skipped" and
//! passes when its object is absent.

use super::*;
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::{Path, PathBuf};

const LIBXDP_DIR: &str = "/usr/lib/x86_64-linux-gnu/bpf";

fn kern(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kern")
        .join(name)
}

fn read(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(data) => Some(data),
        Err(error) => {
            eprintln!(
                "skipped: {}: {error} (build it with `make -C kern all debug`, or install libxdp1)",
                path.display()
            );
            None
        }
    }
}

/// Every libxdp object present, sorted; empty (and a message) when there are none.
fn libxdp_objects() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(LIBXDP_DIR)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "o"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    if paths.is_empty() {
        eprintln!("skipped: no objects in {LIBXDP_DIR} (install libxdp1)");
    }
    paths
}

/// The parsed `.BTF`, its raw bytes and, when present, the raw `.BTF.ext`.
struct Loaded {
    btf: Btf,
    raw: Vec<u8>,
    ext: Option<Vec<u8>>,
}

fn load(path: &Path, data: &[u8]) -> Loaded {
    let file = object::File::parse(data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw = file
        .section_by_name(".BTF")
        .unwrap_or_else(|| panic!("{}: no .BTF", path.display()))
        .data()
        .unwrap()
        .to_vec();
    let ext = file
        .section_by_name(".BTF.ext")
        .map(|section| section.data().unwrap().to_vec());
    let btf = Btf::parse(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Loaded { btf, raw, ext }
}

/// `fixup_datasecs` fed from the ELF, as the loader does.
fn fixup(btf: &mut Btf, data: &[u8]) -> Result<(), BtfError> {
    let file = object::File::parse(data).unwrap();
    btf.fixup_datasecs(
        |name| {
            file.section_by_name(name)
                .and_then(|section| u32::try_from(section.size()).ok())
        },
        |section, var| {
            let index = file.section_by_name(section)?.index();
            file.symbols()
                .find(|symbol| symbol.section_index() == Some(index) && symbol.name() == Ok(var))
                .and_then(|symbol| u32::try_from(symbol.address()).ok())
        },
    )
}

fn header_is_canonical(raw: &[u8]) -> bool {
    let word = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().unwrap());
    let (hdr_len, type_off, type_len, str_off, str_len) =
        (word(4), word(8), word(12), word(16), word(20));
    hdr_len == 24
        && type_off == 0
        && str_off == type_len
        && raw.len() == (24 + type_len + str_len) as usize
}

/// Serialising, fixing up, sanitising and `.BTF.ext` of one object.
fn check(path: &Path, data: &[u8]) {
    let name = path.display();
    let Loaded { btf, raw, ext } = load(path, data);

    // Unmodified: the same bytes back.
    assert!(header_is_canonical(&raw), "{name}: unusual .BTF header");
    assert_eq!(btf.to_bytes(), raw, "{name}: to_bytes differs from .BTF");
    assert_eq!(Btf::parse(&btf.to_bytes()).unwrap(), btf);

    // Fixed up: every DATASEC sized, its variables in order and inside it.
    let mut fixed = btf.clone();
    fixup(&mut fixed, data).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut datasecs = 0;
    for (id, ty) in fixed.types() {
        let BtfKind::Datasec { size, vars } = &ty.kind else {
            continue;
        };
        datasecs += 1;
        let section = fixed.string(ty.name_off).unwrap();
        assert_ne!(*size, 0, "{name}: DATASEC [{id}] {section} has size 0");
        let mut end = 0;
        for var in vars {
            assert!(
                var.offset >= end,
                "{name}: {section}: {} at {} overlaps or is out of order",
                fixed.name(var.type_id).unwrap(),
                var.offset
            );
            end = var.offset + var.size;
        }
        assert!(end <= *size, "{name}: {section}: variables past the end");
    }
    assert!(datasecs > 0, "{name}: no DATASEC");
    assert_eq!(Btf::parse(&fixed.to_bytes()).unwrap(), fixed);

    // Sanitised: nothing for a kernel with everything, something parseable otherwise.
    let mut all = fixed.clone();
    all.sanitize(&BtfFeatures::ALL);
    assert_eq!(all, fixed, "{name}: sanitize(ALL) changed something");
    let mut none = fixed.clone();
    none.sanitize(&BtfFeatures::NONE);
    let again = Btf::parse(&none.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (_, ty) in again.types() {
        assert!(
            !matches!(
                ty.kind,
                BtfKind::Var { .. }
                    | BtfKind::Datasec { .. }
                    | BtfKind::Func { .. }
                    | BtfKind::FuncProto { .. }
            ),
            "{name}: {} left after sanitize(NONE)",
            ty.kind.name()
        );
    }

    // .BTF.ext: every record points at an instruction of an executable section
    // that exists, at a FUNC, at strings that exist.
    let Some(ext) = ext else {
        return;
    };
    let ext = BtfExt::parse(&ext, &btf).unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = object::File::parse(data).unwrap();
    assert_eq!(ext.func_info_rec_size, 8, "{name}");
    assert_eq!(ext.line_info_rec_size, 16, "{name}");
    assert!(!ext.func_info.is_empty(), "{name}: no func_info");
    for info in &ext.func_info {
        let section = file
            .section_by_name(&info.section)
            .unwrap_or_else(|| panic!("{name}: func_info for missing section {}", info.section));
        assert!(!info.records.is_empty());
        for record in &info.records {
            assert_eq!(record.insn_off % 8, 0, "{name}: {}", info.section);
            assert!(u64::from(record.insn_off) < section.size());
            assert!(
                matches!(
                    btf.get(record.type_id).map(|t| &t.kind),
                    Some(BtfKind::Func { .. })
                ),
                "{name}: func_info type {} is not a FUNC",
                record.type_id
            );
        }
        // The first function of a section starts it.
        assert_eq!(info.records[0].insn_off, 0, "{name}: {}", info.section);
    }
    for info in &ext.line_info {
        let section = file.section_by_name(&info.section).unwrap();
        for record in &info.records {
            assert_eq!(record.insn_off % 8, 0);
            assert!(u64::from(record.insn_off) < section.size());
            assert!(btf
                .string(record.file_name_off)
                .is_ok_and(|f| !f.is_empty()));
            assert!(btf.string(record.line_off).is_ok());
        }
        // Line records go forward through the section.
        assert!(info
            .records
            .windows(2)
            .all(|w| w[0].insn_off <= w[1].insn_off));
    }
}

#[test]
fn kern_xdp_elf() {
    let path = kern("xdp.elf");
    let Some(data) = read(&path) else { return };
    check(&path, &data);

    // What clang left and the fixup put right, for the four maps of the sample.
    let Loaded { mut btf, .. } = load(&path, &data);
    let maps = btf.find_datasec(".maps").unwrap();
    let BtfKind::Datasec { size, .. } = &btf.get(maps).unwrap().kind else {
        unreachable!()
    };
    assert_eq!(*size, 0, "clang leaves DATASEC sizes at 0");
    fixup(&mut btf, &data).unwrap();
    let BtfKind::Datasec { size, vars } = &btf.get(maps).unwrap().kind else {
        unreachable!()
    };
    let file = object::File::parse(&*data).unwrap();
    assert_eq!(
        u64::from(*size),
        file.section_by_name(".maps").unwrap().size()
    );
    let names: Vec<&str> = vars.iter().map(|v| btf.name(v.type_id).unwrap()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for name in ["tail_call", "jmp_map", "stats_map", "if_redirect"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let ext = BtfExt::parse(
        file.section_by_name(".BTF.ext").unwrap().data().unwrap(),
        &btf,
    )
    .unwrap();
    let funcs: Vec<&str> = ext
        .func_info_for("xdp")
        .map(|f| btf.name(f.type_id).unwrap())
        .collect();
    assert_eq!(funcs, ["xdp_skeleton", "xdp_skeleton_1", "xdp_skeleton_2"]);
}

#[test]
fn kern_xdp_debug_elf() {
    let path = kern("xdp-debug.elf");
    let Some(data) = read(&path) else { return };
    check(&path, &data);
    // `.rodata` holds the bpf_printk formats: static variables clang placed itself.
    let Loaded { mut btf, .. } = load(&path, &data);
    fixup(&mut btf, &data).unwrap();
    let rodata = btf.find_datasec(".rodata").expect("bpf_printk formats");
    let BtfKind::Datasec { size, vars } = &btf.get(rodata).unwrap().kind else {
        unreachable!()
    };
    assert!(*size > 0 && vars.len() > 1);
}

#[test]
fn libxdp_dispatcher() {
    let path = Path::new(LIBXDP_DIR).join("xdp-dispatcher.o");
    let Some(data) = read(&path) else { return };
    check(&path, &data);
    let Loaded { btf, .. } = load(&path, &data);
    // The dispatcher's configuration lives in `.rodata`, its version in `xdp_metadata`.
    assert!(btf.find_datasec(".rodata").is_some());
    assert!(btf.find_datasec("xdp_metadata").is_some());
}

#[test]
fn every_libxdp_object() {
    for path in libxdp_objects() {
        let data = std::fs::read(&path).unwrap();
        check(&path, &data);
    }
}
