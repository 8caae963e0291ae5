//! Attach modes: -mode auto takes native where the interface can, and says why not
//! where it cannot.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn mode_auto_uses_native_when_it_can_and_says_why_not_when_it_cannot() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    // MTU 1500 on both ends: native.
    let out = ok(ops.load_on(&interface, &["-mode", "auto"]));
    assert!(!out.contains("Native mode is not possible"), "{out}");
    let (mode, _) = ops.xdp_on(&interface).expect("attached");
    assert_eq!(mode, XDP_ATTACHED_DRV, "ip link: native mode\n{out}");
    ops.xdp_off(&interface);

    // The peer (in the other namespace) at MTU 9000: the kernel refuses native mode, and
    // the loader says so in one line and attaches in generic mode.
    ops.ip(
        &ops.sender_ns,
        &["link", "set", "dev", &ops.sender_if, "mtu", "9000"],
    );
    let out = ok(ops.load_on(&interface, &["-mode", "auto"]));
    let fallback: Vec<&str> = out
        .lines()
        .filter(|line| line.starts_with("Native mode is not possible: "))
        .collect();
    assert_eq!(fallback.len(), 1, "one fallback line:\n{out}");
    assert!(
        fallback[0].ends_with("; using generic (skb) mode")
            && fallback[0].contains("Peer MTU is too large"),
        "the fallback line names the MTU: {}",
        fallback[0]
    );
    let (mode, generic_id) = ops.xdp_on(&interface).expect("attached");
    assert_eq!(mode, XDP_ATTACHED_SKB, "ip link: generic mode");

    // -mode drv with that peer: exit 3, the kernel's words and what ERANGE means. The
    // generic program that was there stays.
    let output = ops.load_on(&interface, &["-mode", "drv"]);
    let err = failed(&output, 3);
    assert!(err.contains("Peer MTU is too large"), "{err}");
    assert!(err.contains("ERANGE"), "{err}");
    assert!(
        err.contains("the MTU is too large for native XDP"),
        "the ERANGE explanation: {err}"
    );
    assert_eq!(
        ops.xdp_on(&interface),
        Some((XDP_ATTACHED_SKB, generic_id)),
        "a failed mode switch leaves the program that was attached"
    );
    assert!(
        stdout(&output).contains(&format!(
            "Put xdp_skeleton (id {generic_id}) back on {interface} (generic (skb) mode)"
        )),
        "{}",
        stdout(&output)
    );

    // A peer the loader can see (same namespace) with MTU 9000: judged before attaching.
    ops.local_pair("opsm0", "opsm1", 9000, true);
    let out = ok(ops.load_on("opsm0", &["-mode", "auto"]));
    assert!(
        out.lines()
            .any(|line| line.starts_with("Native mode is not possible: ")
                && line.contains("opsm1")
                && line.contains("MTU 9000")
                && line.ends_with("; using generic (skb) mode")),
        "the line names the peer and its MTU:\n{out}"
    );
    assert_eq!(
        ops.xdp_on("opsm0").map(|(mode, _)| mode),
        Some(XDP_ATTACHED_SKB)
    );

    // A peer that is down: generic, and the line names the peer.
    ops.local_pair("opsd0", "opsd1", 1500, false);
    let out = ok(ops.load_on("opsd0", &["-mode", "auto"]));
    assert!(
        out.lines()
            .any(|line| line.starts_with("Native mode is not possible: ")
                && line.contains("opsd1")
                && line.contains("down")
                && line.ends_with("; using generic (skb) mode")),
        "the line names the peer that is down:\n{out}"
    );
    assert_eq!(
        ops.xdp_on("opsd0").map(|(mode, _)| mode),
        Some(XDP_ATTACHED_SKB)
    );
}
