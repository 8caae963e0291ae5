//! BPF links: one outlives the loader, is updated in place by a reload and goes with
//! -detach.

use super::*;

fn link_exists(id: u64) -> bool {
    run("bpftool", &["link", "show", "id", &id.to_string()])
        .status
        .success()
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_bpf_link_outlives_the_loader_is_updated_in_place_and_detached() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let ifindex = ops.ifindex(&interface);
    let link_pin = ops.pin(&format!("link_{interface}"));

    let out = ok(ops.load(&["-link"]));
    // The loader has exited; the program is still attached.
    let (mode, first) = ops.attached().expect("attached through the link");
    assert_eq!(mode, XDP_ATTACHED_SKB, "{out}");
    assert!(
        link_pin.exists(),
        "the link is pinned at {}",
        link_pin.display()
    );
    let fdinfo = pinned_link_fdinfo(&link_pin);
    let link_id = fdinfo_value(&fdinfo, "link_id");
    assert_eq!(fdinfo_value(&fdinfo, "ifindex"), ifindex, "{fdinfo:?}");
    assert_eq!(fdinfo_value(&fdinfo, "prog_id"), first, "{fdinfo:?}");
    assert!(
        xdp_links().contains(&(link_id, first)),
        "bpftool link show: xdp link {link_id} with program {first}: {:?}",
        xdp_links()
    );

    // A second -link load swaps the program inside the same link.
    ok(ops.load(&["-link"]));
    let (_, second) = ops.attached().expect("attached");
    assert_ne!(second, first, "a new program");
    let fdinfo = pinned_link_fdinfo(&link_pin);
    assert_eq!(fdinfo_value(&fdinfo, "link_id"), link_id, "the same link");
    assert_eq!(fdinfo_value(&fdinfo, "prog_id"), second);
    assert!(
        xdp_links().contains(&(link_id, second)),
        "{:?}",
        xdp_links()
    );
    assert!(
        wait_for(SETTLE, || !prog_exists(first)),
        "the old program is freed"
    );

    // The link holds the attachment: `ip link set ... xdp off` cannot remove it.
    let off = ops.in_xdp_ns(
        "ip",
        &["link", "set", "dev", &interface, "xdpgeneric", "off"],
    );
    assert!(
        !off.status.success(),
        "netlink cannot detach a link's program"
    );
    assert_eq!(ops.attached().map(|(_, id)| id), Some(second));

    let (progs, maps) = ids_of_load(second, &ops.pin("jmp_map"));
    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert!(
        out.contains(&format!("BPF link {link_id}")),
        "detached the link:\n{out}"
    );
    assert_eq!(ops.attached(), None, "nothing attached");
    assert!(!link_pin.exists(), "the link pin is gone");
    assert_eq!(ops.pins(), Vec::<String>::new(), "every pin is gone");
    assert!(
        wait_for(SETTLE, || !link_exists(link_id) && all_gone(&progs, &maps)),
        "link {link_id}, programs {progs:?} and maps {maps:?} are freed"
    );
}
