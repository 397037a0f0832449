//! What the trainer's tests share: where ../shared is, and the binary under test.

use std::path::PathBuf;
use std::process::Command;

/// `$ONESHEET_SHARED`, or `../shared` beside the checkout (tests run in `trainer/`).
pub fn shared() -> PathBuf {
    std::env::var_os("ONESHEET_SHARED").map_or_else(|| PathBuf::from("../../shared"), PathBuf::from)
}

/// The `onesheet` binary, pointed at the pretrained weights.
pub fn onesheet() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onesheet"));
    command.env(
        "ONESHEET_WEIGHTS",
        shared().join("weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors"),
    );
    command
}
