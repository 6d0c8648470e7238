//! Helpers shared by the workspace's behaviour tests.

use std::path::PathBuf;

/// The path of a built example. `cargo test` builds the examples before it
/// runs the tests, into `target/<profile>/examples/`, beside this test's own
/// `deps/` folder.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("test binary path");
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test` (which builds the examples) or \
         `cargo build --example {name}` first",
        binary.display()
    );
    binary
}
