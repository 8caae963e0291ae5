//! `Btf::fixup_datasecs` on hand-built BTF.

use super::tests::Builder;
use super::*;

/// Sections and symbols of a pretend object: `(section, size)` and `(section, symbol, value)`.
struct Elf {
    sections: Vec<(&'static str, u32)>,
    symbols: Vec<(&'static str, &'static str, u32)>,
}

impl Elf {
    fn fixup(&self, btf: &mut Btf) -> Result<(), BtfError> {
        btf.fixup_datasecs(
            |name| {
                self.sections
                    .iter()
                    .find(|(section, _)| *section == name)
                    .map(|&(_, size)| size)
            },
            |section, name| {
                self.symbols
                    .iter()
                    .find(|(sec, sym, _)| *sec == section && *sym == name)
                    .map(|&(_, _, value)| value)
            },
        )
    }
}

fn datasec(btf: &Btf, id: u32) -> (u32, Vec<(String, u32, u32)>) {
    let BtfKind::Datasec { size, vars } = &btf.get(id).unwrap().kind else {
        panic!("{id} is not a DATASEC");
    };
    let vars = vars
        .iter()
        .map(|var| {
            (
                btf.name(var.type_id).unwrap().to_owned(),
                var.offset,
                var.size,
            )
        })
        .collect();
    (*size, vars)
}

fn owned(vars: &[(&str, u32, u32)]) -> Vec<(String, u32, u32)> {
    vars.iter()
        .map(|&(name, offset, size)| (name.to_owned(), offset, size))
        .collect()
}

#[test]
fn sizes_and_offsets_come_from_the_elf_and_are_sorted() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let def = b.structure("def", 40, &[]);
    let tail_call = b.var("tail_call", def);
    let stats_map = b.var("stats_map", def);
    let if_redirect = b.var("if_redirect", def);
    let maps = b.datasec(
        ".maps",
        0,
        &[(tail_call, 0, 40), (stats_map, 0, 40), (if_redirect, 0, 40)],
    );
    let license = b.var("_license", int);
    let license_sec = b.datasec("license", 0, &[(license, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".maps", 120), ("license", 4)],
        symbols: vec![
            (".maps", "if_redirect", 0),
            (".maps", "stats_map", 80),
            (".maps", "tail_call", 40),
            ("license", "_license", 0),
            // Same name, other section: not used for .maps.
            ("license", "stats_map", 4),
        ],
    };
    elf.fixup(&mut btf).unwrap();
    assert_eq!(
        datasec(&btf, maps),
        (
            120,
            owned(&[
                ("if_redirect", 0, 40),
                ("tail_call", 40, 40),
                ("stats_map", 80, 40)
            ])
        )
    );
    assert_eq!(
        datasec(&btf, license_sec),
        (4, owned(&[("_license", 0, 4)]))
    );
    // Fixed-up BTF encodes and parses back.
    assert_eq!(Btf::parse(&btf.to_bytes()).unwrap(), btf);
    // A second run changes nothing.
    let once = btf.clone();
    elf.fixup(&mut btf).unwrap();
    assert_eq!(btf, once);
}

#[test]
fn datasec_without_a_section_is_an_error_naming_it() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let var = b.var("counter", int);
    b.datasec(".bss", 0, &[(var, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".data", 4)],
        symbols: vec![(".bss", "counter", 0)],
    };
    let error = elf.fixup(&mut btf).unwrap_err();
    assert_eq!(
        error,
        BtfError::DatasecWithoutSection {
            datasec: ".bss".into()
        }
    );
    assert!(error.to_string().contains("`.bss`"), "{error}");

    // An empty section cannot give a size either.
    let elf = Elf {
        sections: vec![(".bss", 0)],
        symbols: vec![(".bss", "counter", 0)],
    };
    assert!(matches!(
        elf.fixup(&mut btf),
        Err(BtfError::DatasecWithoutSection { .. })
    ));
}

#[test]
fn global_var_without_a_symbol_is_an_error_naming_both() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let first = b.var("first", int);
    let second = b.var("second", int);
    b.datasec(".data", 0, &[(first, 0, 4), (second, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".data", 8)],
        symbols: vec![(".data", "first", 0), (".bss", "second", 4)],
    };
    let error = elf.fixup(&mut btf).unwrap_err();
    assert_eq!(
        error,
        BtfError::DatasecVarWithoutSymbol {
            datasec: ".data".into(),
            var: "second".into()
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("`second`") && message.contains("`.data`"),
        "{message}"
    );
}

#[test]
fn static_vars_use_their_symbol_or_keep_the_offset_clang_gave_them() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let string = b.array(int, int, 9);
    let located = b.var_linkage("prog.____fmt", string, 0);
    let kept = b.var_linkage("prog.____fmt.1", string, 0);
    let global = b.var("limit", int);
    let rodata = b.datasec(
        ".rodata",
        0,
        &[(located, 0, 36), (kept, 36, 36), (global, 0, 4)],
    );
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".rodata", 76)],
        symbols: vec![(".rodata", "prog.____fmt", 4), (".rodata", "limit", 0)],
    };
    elf.fixup(&mut btf).unwrap();
    assert_eq!(
        datasec(&btf, rodata),
        (
            76,
            owned(&[
                ("limit", 0, 4),
                ("prog.____fmt", 4, 36),
                ("prog.____fmt.1", 36, 36)
            ])
        )
    );
}

#[test]
fn extern_vars_and_extern_datasecs_are_only_sorted() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let version = b.var_linkage("LINUX_KERNEL_VERSION", int, 2);
    let hz = b.var_linkage("CONFIG_HZ", int, 2);
    let kconfig = b.datasec(".kconfig", 8, &[(version, 4, 4), (hz, 0, 4)]);
    let ext = b.var_linkage("bpf_prog_active", int, 2);
    let ksyms = b.datasec(".ksyms", 0, &[(ext, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![],
        symbols: vec![],
    };
    elf.fixup(&mut btf).unwrap();
    assert_eq!(
        datasec(&btf, kconfig),
        (
            8,
            owned(&[("CONFIG_HZ", 0, 4), ("LINUX_KERNEL_VERSION", 4, 4)])
        )
    );
    assert_eq!(
        datasec(&btf, ksyms),
        (0, owned(&[("bpf_prog_active", 0, 4)]))
    );

    // An extern in an ordinary DATASEC needs no symbol.
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let ext = b.var_linkage("elsewhere", int, 2);
    let own = b.var("own", int);
    b.datasec(".data", 0, &[(ext, 0, 4), (own, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".data", 4)],
        symbols: vec![(".data", "own", 0)],
    };
    elf.fixup(&mut btf).unwrap();
}

#[test]
fn datasecs_with_a_size_keep_size_and_offsets() {
    // What the BPF static linker emits: already fixed up, no lookups needed.
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let second = b.var("second", int);
    let first = b.var("first", int);
    let data = b.datasec(".data", 8, &[(second, 4, 4), (first, 0, 4)]);
    let mut btf = b.parse().unwrap();
    btf.fixup_datasecs(|_| None, |_, _| None).unwrap();
    assert_eq!(
        datasec(&btf, data),
        (8, owned(&[("first", 0, 4), ("second", 4, 4)]))
    );
}

#[test]
fn a_var_past_the_end_of_its_section_is_an_error() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let var = b.var("counter", int);
    b.datasec(".data", 0, &[(var, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".data", 8)],
        symbols: vec![(".data", "counter", 6)],
    };
    let error = elf.fixup(&mut btf).unwrap_err();
    assert_eq!(
        error,
        BtfError::DatasecVarOutOfBounds {
            datasec: ".data".into(),
            var: "counter".into(),
            offset: 6,
            size: 4,
            section_size: 8
        }
    );
    assert!(error.to_string().contains("`counter`"), "{error}");

    // Offsets that overflow when the size is added.
    let elf = Elf {
        sections: vec![(".data", u32::MAX)],
        symbols: vec![(".data", "counter", u32::MAX - 1)],
    };
    assert!(matches!(
        elf.fixup(&mut btf),
        Err(BtfError::DatasecVarOutOfBounds { .. })
    ));
}

#[test]
fn a_datasec_entry_that_is_not_a_var_is_an_error() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.datasec(".data", 0, &[(int, 0, 4)]);
    let mut btf = b.parse().unwrap();
    let elf = Elf {
        sections: vec![(".data", 4)],
        symbols: vec![],
    };
    assert_eq!(
        elf.fixup(&mut btf),
        Err(BtfError::DatasecEntryNotVar {
            datasec: ".data".into(),
            type_id: int
        })
    );
    // void, too.
    let mut b = Builder::new();
    b.datasec(".data", 0, &[(0, 0, 4)]);
    let mut btf = b.parse().unwrap();
    assert_eq!(
        elf.fixup(&mut btf),
        Err(BtfError::DatasecEntryNotVar {
            datasec: ".data".into(),
            type_id: 0
        })
    );
}

#[test]
fn no_datasecs_nothing_to_do() {
    let mut b = Builder::new();
    b.int("int", 4);
    let mut btf = b.parse().unwrap();
    let before = btf.clone();
    btf.fixup_datasecs(|_| panic!("no lookups"), |_, _| panic!("no lookups"))
        .unwrap();
    assert_eq!(btf, before);
}
