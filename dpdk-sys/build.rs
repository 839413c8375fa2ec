//! Generates the DPDK bindings from the system DPDK (pkg-config `libdpdk` >= 22.11).
//!
//! 1. pkg-config finds DPDK: its cflags feed both bindgen and the C compiler, its libs go to the
//!    linker. Poll-mode drivers are not linked: DPDK's EAL loads them as plugins from the
//!    distribution's plugin directory (Debian: /usr/lib/<triple>/dpdk/pmds-<abi>).
//! 2. bindgen turns `shim/wrapper.h` into `$OUT_DIR/bindings.rs`, restricted to `rte_*`/`RTE_*`.
//! 3. DPDK's fast path is `static inline` (rte_eth_rx_burst, rte_pktmbuf_alloc, the ring
//!    enqueue/dequeue family, ...). bindgen's `wrap_static_fns` writes one exported C wrapper per
//!    such function into `$OUT_DIR/static_fns.c`; the `cc` crate compiles it together with the
//!    hand-written `shim/fnat_shim.c` (macros such as `rte_errno`) into a static library.

use std::env;
use std::panic;
use std::path::PathBuf;
use std::process::Command;

/// What to tell someone whose machine lacks the build prerequisites.
const INSTALL_HINT: &str = "install them with: apt-get install libdpdk-dev libclang-dev pkg-config";

/// The oldest DPDK whose API these bindings are written against.
const MIN_DPDK: &str = "22.11";

/// Structs bindgen cannot lay out (packed and aligned at once, or packed with bitfields it
/// mis-sizes); Rust sees them as opaque byte blobs of the right size and alignment.
const OPAQUE_TYPES: &[&str] = &[
    "rte_arp_hdr",
    "rte_arp_ipv4",
    "rte_l2tpv2_combined_msg_hdr",
    "rte_gtp_psc_generic_hdr",
    "rte_gtp_psc_type0_hdr",
    "rte_gtp_psc_type1_hdr",
    "rte_flow_item_l2tpv2",
    "rte_flow_item_gtp_psc",
];

fn main() {
    let shim_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("shim");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", shim_dir.join("wrapper.h").display());
    println!("cargo:rerun-if-changed={}", shim_dir.join("fnat_shim.c").display());
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");

    let dpdk = probe_dpdk();
    let cflags = dpdk_cflags();
    ensure_libclang();

    let wrapper = shim_dir.join("wrapper.h");
    let static_fns = out_dir.join("static_fns");
    let mut builder = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_args(clang_args(&cflags))
        .clang_arg(format!("-I{}", shim_dir.display()))
        .allowlist_function("rte_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("LCORE_ID_ANY|SOCKET_ID_ANY")
        .allowlist_function("fnat_.*")
        // Macros such as RTE_ETH_RSS_IP expand through RTE_BIT64(); let clang evaluate them.
        .clang_macro_fallback()
        .clang_macro_fallback_build_dir(&out_dir)
        .derive_default(true)
        .derive_copy(true)
        .derive_debug(true)
        .impl_debug(false)
        .layout_tests(true)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .generate_comments(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&static_fns)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for ty in OPAQUE_TYPES {
        builder = builder.opaque_type(ty);
    }
    let bindings = builder.generate().unwrap_or_else(|err| {
        panic!("dpdk-sys: bindgen failed on the DPDK {} headers: {err}; {INSTALL_HINT}", dpdk.version)
    });
    bindings.write_to_file(out_dir.join("bindings.rs")).expect("dpdk-sys: cannot write bindings.rs");

    // Compile the static-inline wrappers and the hand-written shim with DPDK's own cflags
    // (they carry `-include rte_config.h -march=...`, which the inline code depends on).
    let mut cc = cc::Build::new();
    cc.file(static_fns.with_extension("c"))
        .file(shim_dir.join("fnat_shim.c"))
        .include(&shim_dir)
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-parameter")
        .define("ALLOW_EXPERIMENTAL_API", None)
        .opt_level(3)
        .warnings(false);
    for flag in &cflags {
        cc.flag(flag);
    }
    cc.compile("fnat_dpdk_shim");
}

/// Finds libdpdk with pkg-config and emits its link flags.
fn probe_dpdk() -> pkg_config::Library {
    pkg_config::Config::new().atleast_version(MIN_DPDK).probe("libdpdk").unwrap_or_else(|err| {
        panic!(
            "dpdk-sys: DPDK >= {MIN_DPDK} not found through pkg-config (libdpdk.pc): {err}\n\
                 dpdk-sys needs DPDK's headers and libraries, libclang and pkg-config; {INSTALL_HINT}"
        )
    })
}

/// DPDK's cflags, verbatim: the pkg-config crate drops `-include rte_config.h` and `-march`.
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let out = Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|err| panic!("dpdk-sys: cannot run {pkg_config}: {err}; {INSTALL_HINT}"));
    if !out.status.success() {
        panic!(
            "dpdk-sys: `{pkg_config} --cflags libdpdk` failed: {}; {INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // `-include rte_config.h` is two words that must stay together; splitting on whitespace
    // keeps their order, which is all clang and gcc need.
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
}

/// DPDK's cflags minus `-include <file>` pairs, for bindgen. wrapper.h includes rte_config.h
/// itself; bindgen's macro fallback drops a bare `-include` and would read the file name after
/// it as a second input, losing every macro it should evaluate.
fn clang_args(cflags: &[String]) -> Vec<String> {
    let mut args = Vec::with_capacity(cflags.len());
    let mut words = cflags.iter();
    while let Some(word) = words.next() {
        if word == "-include" {
            words.next();
        } else {
            args.push(word.clone());
        }
    }
    args
}

/// Loads libclang up front so a missing libclang is one clear message, not a bindgen panic.
fn ensure_libclang() {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let loaded = panic::catch_unwind(bindgen::clang_version);
    panic::set_hook(hook);
    match loaded {
        Ok(version) if version.parsed.is_some() => {}
        Ok(version) => {
            panic!("dpdk-sys: libclang loaded but reports no usable version ({}); {INSTALL_HINT}", version.full)
        }
        Err(cause) => {
            let why = cause
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| cause.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            panic!("dpdk-sys: cannot load libclang (bindgen needs it): {why}; {INSTALL_HINT}")
        }
    }
}
