//! CO-RE against the running kernel: `core_relocs` loaded, run, and every value it
//! stored compared with what `bpftool btf dump` says about /sys/kernel/btf/vmlinux
//! (read here, not through our code); the same instructions as `bpftool prog loadall`
//! gives; TYPE_MATCHES through rewritten records; corrupt records and a missing
//! vmlinux refused in one sentence with nothing created; and objects without CO-RE
//! never opening /sys/kernel/btf.

use super::*;
use loader::load::core::CoreContext;
use loader::load::kernel_btf::KernelBtf;
use loader::load::programs::check_linkable;
use loader::ExitKind;

/// `bpftool -j btf dump file FILE`: the types by id (`types[id]`; `[0]` is void).
struct Types(Vec<Value>);

impl Types {
    fn of(file: &str) -> Types {
        let dumped = bpftool_json(&["btf", "dump", "file", file]);
        let mut types = vec![Value::Null];
        types.extend(dumped["types"].as_array().expect("types").iter().cloned());
        for (index, ty) in types.iter().enumerate().skip(1) {
            assert_eq!(
                ty["id"].as_u64(),
                Some(index as u64),
                "bpftool lists ids in order"
            );
        }
        Types(types)
    }

    fn id(&self, kind: &str, name: &str) -> u64 {
        self.0
            .iter()
            .position(|ty| ty["kind"] == kind && ty["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}")) as u64
    }

    fn get(&self, id: u64) -> &Value {
        &self.0[id as usize]
    }

    /// The type under typedefs and qualifiers.
    fn skip(&self, mut id: u64) -> &Value {
        loop {
            let ty = self.get(id);
            match ty["kind"].as_str() {
                Some("TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG") => {
                    id = ty["type_id"].as_u64().expect("type_id")
                }
                _ => return ty,
            }
        }
    }

    fn size(&self, id: u64) -> u64 {
        self.skip(id)["size"].as_u64().expect("size")
    }

    /// `(bit offset, bitfield size, type id)` of `field` as C reaches it from struct
    /// `id`: members of anonymous structs and unions count as the struct's own.
    fn field(&self, id: u64, field: &str) -> Option<(u64, u64, u64)> {
        for member in self.get(id)["members"].as_array()? {
            let offset = member["bits_offset"].as_u64()?;
            let type_id = member["type_id"].as_u64()?;
            if member["name"] == field {
                let bits = member["bitfield_size"].as_u64().unwrap_or(0);
                return Some((offset, bits, type_id));
            }
            if member["name"] == "(anon)" {
                let inner = self.skip(type_id)["id"].as_u64()?;
                if let Some((o, b, t)) = self.field(inner, field) {
                    return Some((offset + o, b, t));
                }
            }
        }
        None
    }

    fn signed(&self, id: u64) -> bool {
        self.skip(id)["encoding"] == "SIGNED"
    }

    fn enum_value(&self, name: &str, value: &str) -> u64 {
        let id = self.id("ENUM", name);
        self.get(id)["values"]
            .as_array()
            .expect("values")
            .iter()
            .find(|v| v["name"] == value)
            .and_then(|v| v["val"].as_u64())
            .unwrap_or_else(|| panic!("no {value} in enum {name}"))
    }
}

/// What `core_values` must store in `out` on this kernel, from bpftool's view of
/// vmlinux and of the object's own BTF. `matches` is TYPE_MATCHES' answer for
/// `sk_buff___nomatch` (0), or TYPE_EXISTS' (1) in the object as built.
fn expected(object: &Path, nomatch: u64) -> Vec<(&'static str, u64)> {
    let kernel = Types::of("/sys/kernel/btf/vmlinux");
    let local = Types::of(object.to_str().expect("utf-8"));
    let skb = kernel.id("STRUCT", "sk_buff");
    let (len_bits, _, len_type) = kernel.field(skb, "len").expect("sk_buff.len");
    let task = kernel.id("STRUCT", "task_struct");
    let (_, _, pid_type) = kernel.field(task, "pid").expect("task_struct.pid");
    let (pkt_bits, pkt_width, pkt_type) = kernel.field(skb, "pkt_type").expect("pkt_type");
    assert!(pkt_width > 0, "pkt_type is a bitfield");
    // The smallest aligned load of the bitfield's type size, or larger, that holds it.
    let mut load = kernel.size(pkt_type);
    while pkt_bits + pkt_width - pkt_bits / 8 / load * load * 8 > load * 8 {
        load *= 2;
    }
    let load_offset = pkt_bits / 8 / load * load;
    vec![
        ("len_offset", len_bits / 8),
        ("len_size", kernel.size(len_type)),
        ("len_exists", 1),
        ("len_signed", u64::from(kernel.signed(len_type))),
        ("missing_exists", 0),
        ("missing_offset", 0),
        ("pid_signed", u64::from(kernel.signed(pid_type))),
        ("pkt_type_offset", load_offset),
        ("pkt_type_size", load),
        (
            "pkt_type_lshift",
            64 - (pkt_bits + pkt_width - load_offset * 8),
        ),
        ("pkt_type_rshift", 64 - pkt_width),
        ("pkt_type_signed", u64::from(kernel.signed(pkt_type))),
        ("skb_exists", 1),
        ("nosuch_exists", 0),
        ("skb_size", kernel.size(skb)),
        ("id_local", local.id("STRUCT", "sk_buff___local")),
        ("id_target", skb),
        ("nosuch_id_target", 0),
        ("ktime_exists", 1),
        (
            "ktime_value",
            kernel.enum_value("bpf_func_id", "BPF_FUNC_ktime_get_ns"),
        ),
        ("nohelper_exists", 0),
        ("nohelper_value", 0),
        ("xdp_tx_value", kernel.enum_value("xdp_action", "XDP_TX")),
        ("match_yes", 1),
        ("match_no", nomatch),
        ("frame_len", 64),
        ("ifindex", 1),
    ]
}

/// A rewrite of a core_relo record's words `[insn_off, type_id, access_str_off, kind]`.
type Change = dyn Fn(&elf::btf::Btf, [u32; 4]) -> Option<[u32; 4]>;

/// A copy of `core_relocs.elf` with each `.BTF.ext` core_relo record for which `change`
/// returns new words rewritten (found by its 16 bytes, which are unique in the file).
fn rewritten(tag: &str, change: &Change) -> TempFile {
    let path = fixture("core_relocs");
    let mut bytes = std::fs::read(&path).expect("fixture");
    let object = elf::Object::parse(&bytes).expect("parses");
    let btf = object.btf.as_ref().expect("BTF");
    let records = &object.btf_ext.as_ref().expect("BTF.ext").core_relos;
    let mut changed = 0;
    for record in records.iter().flat_map(|section| &section.records) {
        let words = [
            record.insn_off,
            record.type_id,
            record.access_str_off,
            record.kind,
        ];
        let Some(new) = change(btf, words) else {
            continue;
        };
        let old: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let at = bytes
            .windows(16)
            .position(|window| window == old.as_slice())
            .expect("the record's bytes are in the file");
        let new: Vec<u8> = new.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes[at..at + 16].copy_from_slice(&new);
        changed += 1;
    }
    assert!(changed > 0, "{tag}: some record was rewritten");
    TempFile::new(&format!("{tag}.elf"), &bytes)
}

/// The object with the TYPE_EXISTS records of `sk_buff___match`/`___nomatch` made
/// TYPE_MATCHES (12), which clang 14 cannot emit.
fn with_type_matches() -> TempFile {
    rewritten("core_matches", &|btf, [off, id, access, kind]| {
        let name = btf.name(id).ok()?;
        (kind == 8 && name.starts_with("sk_buff___") && name.contains("match"))
            .then_some([off, id, access, 12])
    })
}

fn load_only_file(file: &str, pins: &PinDir) -> Output {
    run(
        xdploader(),
        &["-file", file, "-load-only", "-pin-path", pins.as_str()],
    )
}

/// Loads `file`, runs `core_values` once and returns `out` as bpftool prints it.
fn run_and_read(file: &str, pins: &PinDir) -> Value {
    let output = load_only_file(file, pins);
    assert!(output.status.success(), "{file}: {}", describe(&output));
    let frame = frame_64();
    assert_eq!(run_ok_retval(&pins.join("core_values"), &frame), XDP_PASS);
    // The map's name comes from the file's: a rewritten copy has another.
    let bss = pins
        .entries()
        .into_iter()
        .find(|name| name.ends_with("_bss"))
        .expect("the .bss map is pinned");
    let dumped = bpftool_json(&["map", "dump", "pinned", path_str(&pins.join(&bss))]);
    dumped[0]["formatted"]["value"][".bss"][0]["out"].clone()
}

fn assert_values(out: &Value, expected: &[(&str, u64)], what: &str) {
    for (field, want) in expected {
        assert_eq!(
            out[field].as_u64(),
            Some(*want),
            "{what}: out.{field} in {out}"
        );
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn every_relocation_kind_stores_the_kernels_value() {
    let _lock = kernel_lock();
    let object = fixture("core_relocs");
    let pins = PinDir::new("core_relocs");
    let out = run_and_read(path_str(&object), &pins);
    assert_values(&out, &expected(&object, 1), "as built (TYPE_EXISTS)");
    let matches = with_type_matches();
    let pins = PinDir::new("core_matches");
    let out = run_and_read(matches.as_str(), &pins);
    assert_values(&out, &expected(&object, 0), "TYPE_MATCHES");
}

/// `bpftool prog dump xlated` with map ids masked: the instructions after relocation.
fn xlated(pin: &Path) -> (String, String) {
    let text = run_ok(
        "bpftool",
        &["prog", "dump", "xlated", "pinned", path_str(pin)],
    );
    let masked: Vec<String> = text
        .lines()
        .map(|line| match line.find("map[id:") {
            Some(at) => {
                let rest = &line[at..];
                let end = rest.find(']').map_or(rest.len(), |end| end + 1);
                format!("{}map[id:N]{}", &line[..at], &rest[end..])
            }
            None => line.to_string(),
        })
        .collect();
    let tag = prog_show(pin)["tag"].as_str().expect("tag").to_string();
    (masked.join("\n"), tag)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn relocated_instructions_are_bpftools() {
    let _lock = kernel_lock();
    let matches = with_type_matches();
    for file in [
        path_str(&fixture("core_relocs")).to_string(),
        matches.as_str().to_string(),
    ] {
        let ours = PinDir::new("core_ours");
        let output = load_only_file(&file, &ours);
        assert!(output.status.success(), "{}", describe(&output));
        let theirs = PinDir::new("core_bpftool");
        run_ok("bpftool", &["prog", "loadall", &file, theirs.as_str()]);
        let (our_code, our_tag) = xlated(&ours.join("core_values"));
        let (their_code, their_tag) = xlated(&theirs.join("core_values"));
        assert_eq!(our_code, their_code, "{file}: same instructions as libbpf");
        assert_eq!(our_tag, their_tag, "{file}: same tag");
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn only_objects_with_core_open_the_kernels_btf() {
    let _lock = kernel_lock();
    let opened = |fixture_name: &str| {
        let pins = PinDir::new("core_strace");
        let trace = TempFile::new("strace", b"");
        let object = fixture(fixture_name);
        let output = run(
            "strace",
            &[
                "-f",
                "-e",
                "trace=openat",
                "-o",
                trace.as_str(),
                xdploader(),
                "-file",
                path_str(&object),
                "-load-only",
                "-pin-path",
                pins.as_str(),
            ],
        );
        assert!(
            output.status.success(),
            "{fixture_name}: {}",
            describe(&output)
        );
        std::fs::read_to_string(&trace.path).expect("strace output")
    };
    let plain = opened("global_data");
    assert!(
        plain.contains("global_data.elf"),
        "strace saw the object opened:\n{plain}"
    );
    assert!(
        !plain.contains("/sys/kernel/btf"),
        "no CO-RE, no kernel BTF:\n{plain}"
    );
    let core = opened("core_relocs");
    assert_eq!(
        core.matches("/sys/kernel/btf/vmlinux").count(),
        1,
        "vmlinux read once for the checks and the load:\n{core}"
    );
}

#[test]
fn a_missing_vmlinux_is_one_sentence_before_anything_is_created() {
    let empty = std::env::temp_dir().join(format!("xdp-core-nobtf-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&empty);
    let parse = |name: &str| {
        elf::Object::parse(&std::fs::read(fixture(name)).expect("fixture")).expect("parses")
    };
    let object = parse("core_relocs");
    // check_linkable runs before any map or program is created; it fails here.
    let core = CoreContext::new(KernelBtf::at(&empty));
    let error = check_linkable(&object, &object.programs, &core).expect_err("no vmlinux");
    let text = error.to_string();
    assert_eq!(error.exit_kind(), ExitKind::Environment, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    for needle in ["core_values", "vmlinux", "CONFIG_DEBUG_INFO_BTF"] {
        assert!(text.contains(needle), "{needle} in: {text}");
    }
    // -dump shows the object's own values instead, and says why.
    let (unavailable, programs) = loader::load::core::dump_core(&core, &object);
    assert!(
        unavailable
            .as_deref()
            .is_some_and(|why| why.contains("vmlinux")),
        "{unavailable:?}"
    );
    assert_eq!(
        programs.iter().map(|(_, lines)| lines.len()).sum::<usize>(),
        28
    );
    // An object without CO-RE never asks for it, nor one whose only relocation is
    // TYPE_ID_LOCAL (the object's own type id).
    for name in ["global_data", "core_local_id"] {
        let plain = parse(name);
        check_linkable(&plain, &plain.programs, &core)
            .unwrap_or_else(|error| panic!("{name} needs no kernel BTF: {error}"));
    }
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn corrupt_records_are_refused_in_one_sentence_leaving_nothing() {
    let _lock = kernel_lock();
    let name_off = |btf: &elf::btf::Btf, text: &str| {
        btf.clone()
            .add_string(text)
            .expect("a string already there")
    };
    // Each rewrites the record of `out.len_size` (FIELD_BYTE_SIZE, the only kind 1 on
    // sk_buff___local.len); `why` is what the sentence must say.
    let first_size = |btf: &elf::btf::Btf, [off, id, _, kind]: [u32; 4]| {
        kind == 1 && off == 4 * 8 && btf.name(id).ok() == Some("sk_buff___local")
    };
    let cases: Vec<(&str, Box<Change>, &str)> = vec![
        (
            "bad_access",
            Box::new(move |btf, w| {
                first_size(btf, w).then(|| [w[0], w[1], name_off(btf, "core_values"), w[3]])
            }),
            "bad access string",
        ),
        (
            "bad_type",
            Box::new(move |btf, w| first_size(btf, w).then_some([w[0], 0xffff, w[2], w[3]])),
            "type id 65535",
        ),
        (
            "bad_insn_off",
            Box::new(move |btf, w| first_size(btf, w).then_some([w[0] + 4, w[1], w[2], w[3]])),
            "not on an instruction",
        ),
        (
            "bad_kind",
            Box::new(move |btf, w| first_size(btf, w).then_some([w[0], w[1], w[2], 99])),
            "kind 99",
        ),
    ];
    let ours = || {
        bpftool_json(&["prog", "show"])
            .as_array()
            .expect("list")
            .iter()
            .filter(|prog| prog["name"] == "core_values")
            .filter_map(|prog| prog["id"].as_u64())
            .collect::<BTreeSet<u64>>()
    };
    let before = ours();
    for (tag, change, why) in &cases {
        let file = rewritten(tag, change.as_ref());
        let pins = PinDir::new(tag);
        let output = load_only_file(file.as_str(), &pins);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{tag}: {}",
            describe(&output)
        );
        assert_eq!(stderr.lines().count(), 1, "{tag}: one line:\n{stderr}");
        for needle in ["core_values", "CO-RE", "section `xdp`", why] {
            assert!(stderr.contains(needle), "{tag}: {needle:?} in {stderr}");
        }
        assert!(pins.entries().is_empty(), "{tag}: no pins");
    }
    assert!(
        wait_for(Duration::from_secs(10), || ours() == before),
        "no core_values program left behind"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_reached_poison_names_the_relocation() {
    let _lock = kernel_lock();
    let pins = PinDir::new("core_poison");
    let output = load_only("fault_core_poison", &pins);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let first = stderr.lines().next().unwrap_or_default();
    for needle in [
        "core_poison",
        "field_byte_offset struct sk_buff___gone.no_such_field",
        "vmlinux's struct sk_buff has no field no_such_field",
        "unknown#195896080",
        "bpf_core_field_exists",
    ] {
        assert!(first.contains(needle), "{needle:?} in {first}");
    }
    assert!(
        stderr.contains("--- verifier log"),
        "the log follows:\n{stderr}"
    );
    assert!(pins.entries().is_empty());
}

#[test]
fn dump_lists_each_relocation_with_its_result() {
    let object = fixture("core_relocs");
    let output = dump(path_str(&object));
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("\tcore_values: insn "))
        .collect();
    assert_eq!(lines.len(), 28, "every record listed:\n{stdout}");
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        assert!(
            stdout.contains("not resolved, the values are the object's own"),
            "{stdout}"
        );
        return;
    }
    let kernel = Types::of("/sys/kernel/btf/vmlinux");
    let skb = kernel.id("STRUCT", "sk_buff");
    let len = kernel.field(skb, "len").expect("len").0 / 8;
    let want = format!(
        "\tcore_values: insn 0 field_byte_offset struct sk_buff___local.len (0:0) -> {len} (object: 0; vmlinux: struct sk_buff.len)"
    );
    assert!(lines.contains(&want.as_str()), "{want}\n{stdout}");
    assert!(
        lines.iter().any(|line| line.contains("field_byte_offset struct sk_buff___local.no_such_field (0:1) -> poisoned: vmlinux's struct sk_buff has no field no_such_field")),
        "{stdout}"
    );
}

#[test]
fn a_subprogram_relocation_is_rebased_into_each_caller() {
    let bytes = std::fs::read(fixture("core_subprog")).expect("fixture");
    let object = elf::Object::parse(&bytes).expect("parses");
    for name in ["core_first", "core_second"] {
        let program = object.program(name).expect("program");
        let linked = object.link(program).expect("links");
        let sub = linked
            .functions
            .iter()
            .find(|function| function.name == "len_offset")
            .expect("len_offset appended");
        assert_eq!(
            linked.core_relos.len(),
            1,
            "{name}: {:?}",
            linked.core_relos
        );
        let relo = &linked.core_relos[0];
        assert_eq!(relo.section, ".text");
        assert_eq!(relo.function, "len_offset");
        assert_eq!(
            relo.insn_index,
            sub.placed_at + relo.record.insn_off as usize / 8
        );
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn subprogram_relocations_load_as_bpftools() {
    let _lock = kernel_lock();
    let file = fixture("core_subprog");
    let ours = PinDir::new("core_sub_ours");
    let output = load_only_file(path_str(&file), &ours);
    assert!(output.status.success(), "{}", describe(&output));
    let theirs = PinDir::new("core_sub_bpftool");
    run_ok(
        "bpftool",
        &["prog", "loadall", path_str(&file), theirs.as_str()],
    );
    let frame = frame_64();
    for program in ["core_first", "core_second"] {
        assert_eq!(
            xlated(&ours.join(program)),
            xlated(&theirs.join(program)),
            "{program}"
        );
        assert_eq!(
            run_ok_retval(&ours.join(program), &frame),
            XDP_PASS,
            "{program}"
        );
    }
}
