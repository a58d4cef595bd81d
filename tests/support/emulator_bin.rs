//! Where the `graph-emulator` binary is, for tests that run the emulator as a process.
//!
//! Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the test's own package, and the
//! emulator is another workspace member, so its binary is found next to the test binary instead:
//! a test runs as `target/<profile>/deps/<test>-<hash>` and the binary is
//! `target/<profile>/graph-emulator`. `cargo test` builds no other member's binary (not even
//! with `--workspace`), so build it first with `cargo build --workspace` (as `scripts/test`
//! does); a missing binary fails the test, saying so, and is never skipped. After changing the
//! emulator, build it again: the tests run whatever binary is there.

use std::path::PathBuf;

/// The `graph-emulator` binary built for this test's profile; panics if it is not there.
pub(crate) fn graph_emulator_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's own path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let bin = profile_dir.join(format!("graph-emulator{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "the graph-emulator binary is missing: expected {} (it belongs to the graph-emulator \
             workspace member, which `cargo test` does not build). Run `cargo build --workspace` \
             first, with the tests' profile (e.g. `cargo build --workspace --release` for \
             `cargo test --release`).",
            bin.display()
        );
    }
    bin
}
