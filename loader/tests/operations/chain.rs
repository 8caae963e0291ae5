//! The tail-call chain check: the chain is printed, and an empty slot is a warning, or
//! with -strict an error.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_tail_call_chain_is_printed_and_empty_slots_are_caught() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    let out = ok(ops.load(&["-strict"]));
    assert!(
        out.lines().any(|line| line
            == "Tail-call chain: xdp_skeleton -> [1] xdp_skeleton_1 -> [2] xdp_skeleton_2"),
        "{out}"
    );
    assert!(!out.contains("Warning"), "every slot filled:\n{out}");
    let slots: Vec<(u64, String)> = prog_array_slots(&ops.pin("jmp_map"))
        .into_iter()
        .map(|(slot, id)| (slot, prog_name(id)))
        .collect();
    assert_eq!(
        slots,
        [
            (1, "xdp_skeleton_1".to_string()),
            (2, "xdp_skeleton_2".to_string())
        ],
        "what the chain line says is what the prog array holds"
    );
    ops.xdp_off(&interface);
    ops.remove_pins();

    // A prog array filled statically (`.values = { [1] = &tail_target }`): no warning.
    let full = fixture("btf_maps_full");
    let out = ok(ops.loader(&[
        "-file",
        full.to_str().expect("utf-8"),
        "-i",
        &interface,
        "-prog",
        "maps_user",
        "-strict",
    ]));
    assert!(
        out.lines()
            .any(|line| line == "Tail-call chain: maps_user -> [1] tail_target"),
        "{out}"
    );
    assert!(!out.contains("Warning"), "{out}");
    let (_, id) = ops.attached().expect("maps_user attached");
    assert_eq!(prog_name(id), "maps_user");
    ops.xdp_off(&interface);
    ops.remove_pins();

    // xdp_skeleton_1 as the entry: its code tail-calls slot 2, and no program is named
    // xdp_skeleton_1_2.
    let out = ok(ops.load(&["-prog", "xdp_skeleton_1"]));
    assert!(
        out.lines().any(|line| line
            == "Warning: xdp_skeleton_1 tail-calls slot 2 of jmp_map, which no program fills"),
        "{out}"
    );
    ops.xdp_off(&interface);
    ops.remove_pins();

    // With -strict it is an error (exit 2), before anything is pinned or attached.
    let err = failed(&ops.load(&["-prog", "xdp_skeleton_1", "-strict"]), 2);
    assert!(
        err.contains("xdp_skeleton_1") && err.contains("slot 2") && err.contains("jmp_map"),
        "{err}"
    );
    assert_eq!(ops.attached(), None, "nothing attached");
    assert_eq!(ops.pins(), Vec::<String>::new(), "nothing pinned");
}
