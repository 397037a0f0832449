//! The binary carries the shipped model: `onesheet classify` works from any folder with no
//! `--model`, `ONESHEET_MODEL` or `--model` choose another bundle, and a missing one is named.
//! Also `onesheet serve`, which is `onesheet-serve` (tested in the server crate) behind the CLI.

mod common;
mod fixtures;

use std::path::Path;
use std::process::Output;

use common::onesheet;
use fixtures::{bundle, poster};
use serde_json::Value;

/// `onesheet classify --format jsonl` on `poster`, run in `cwd` with `env` set (and
/// `ONESHEET_MODEL` unset unless `env` sets it).
fn classify(cwd: &Path, env: &[(&str, &Path)], args: &[&Path]) -> Output {
    let mut command = onesheet();
    command
        .current_dir(cwd)
        .env_remove("ONESHEET_MODEL")
        .args(["classify", "--format", "jsonl"]);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.args(args).output().expect("classify runs");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn scores(output: &Output) -> Value {
    assert!(output.status.success());
    let line: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    line["scores"].clone()
}

#[test]
fn the_shipped_model_is_the_default_anywhere_and_env_or_flag_choose_another() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped_file = checkout.join("models/onesheet.safetensors");
    // A folder with no models/ in it, as after `cargo install`.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let image = elsewhere.path().join("poster.png");
    poster(&image, 90);

    let embedded = scores(&classify(elsewhere.path(), &[], &[&image]));
    assert_eq!(embedded.as_object().map(serde_json::Map::len), Some(19));
    let from_file = scores(&classify(
        elsewhere.path(),
        &[],
        &[Path::new("--model"), &shipped_file, &image],
    ));
    assert_eq!(embedded, from_file, "the embedded bundle is models/'s");

    let other = bundle(elsewhere.path());
    let by_env = scores(&classify(
        elsewhere.path(),
        &[("ONESHEET_MODEL", &other)],
        &[&image],
    ));
    assert_ne!(by_env, embedded, "ONESHEET_MODEL chose the other bundle");
    // The flag wins over the environment.
    let by_flag = scores(&classify(
        elsewhere.path(),
        &[("ONESHEET_MODEL", &other)],
        &[Path::new("--model"), &shipped_file, &image],
    ));
    assert_eq!(by_flag, embedded);

    let missing = elsewhere.path().join("no-such.safetensors");
    let output = classify(elsewhere.path(), &[("ONESHEET_MODEL", &missing)], &[&image]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such.safetensors"), "{stderr}");
}

#[test]
fn serve_is_the_server_crates_and_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("www")).expect("mkdir");
    std::fs::write(dir.path().join("www/index.html"), "<!doctype html>").expect("write");
    let output = onesheet()
        .args(["serve", "--port", "0", "--www"])
        .arg(dir.path().join("www"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scripts/build-wasm.sh"), "{stderr}");
}
