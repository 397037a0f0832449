//! `onesheet index`, `similar` and `explain` on real posters with the shipped model: a
//! distorted copy finds its original first, the index grows incrementally and refuses damage,
//! and a genre's map lies where the poster is.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{onesheet, shared};
use image::{DynamicImage, GenericImageView, Rgb, RgbImage, imageops};
use serde_json::Value;

const MODEL: &str = "../models/onesheet.safetensors";

fn run(args: &[&str], paths: &[&Path]) -> Output {
    let output = onesheet()
        .args(args)
        .args(["--model", MODEL])
        .args(paths)
        .output()
        .expect("onesheet runs");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The first `n` labelled posters, copied into `dir`.
fn posters(dir: &Path, n: usize) -> Vec<PathBuf> {
    let source = shared().join("data/posters/images");
    let mut names: Vec<_> = std::fs::read_dir(&source)
        .expect("../shared posters")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    names
        .into_iter()
        .take(n)
        .map(|name| {
            let to = dir.join(&name);
            std::fs::copy(source.join(&name), &to).expect("copy");
            to
        })
        .collect()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn an_index_finds_a_distorted_copy_grows_and_refuses_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalogue = dir.path().join("catalogue");
    std::fs::create_dir_all(&catalogue).expect("mkdir");
    let files = posters(&catalogue, 41);
    let late = catalogue.join("late arrival.jpg");
    std::fs::rename(&files[40], &late).expect("hold one back");
    let held = dir.path().join("held.jpg");
    std::fs::rename(&late, &held).expect("hold one back");
    std::fs::write(catalogue.join("notes.jpg"), "not a poster").expect("write");
    let index = dir.path().join("catalogue.index");
    let index_arg = index.to_str().expect("utf-8 temp path");

    let first = run(&["index", "--out", index_arg], &[&catalogue]);
    assert_eq!(first.status.code(), Some(1), "a skipped file fails the run");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("notes.jpg"), "{stderr}");
    assert!(
        stderr.contains("40 posters (40 added, 1 skipped)"),
        "{stderr}"
    );

    // A re-encoded, half-size copy of the first poster, cropped by 5%, finds it first.
    let original = image::open(&files[0]).expect("decode");
    let (w, h) = original.dimensions();
    let half = original.resize_exact(w / 2, h / 2, imageops::FilterType::Triangle);
    let (cw, ch) = (w / 2 * 95 / 100, h / 2 * 95 / 100);
    let cropped = half.crop_imm((w / 2 - cw) / 2, (h / 2 - ch) / 2, cw, ch);
    let query = dir.path().join("query.jpg");
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70)
        .encode_image(&DynamicImage::ImageRgb8(cropped.to_rgb8()))
        .expect("encode");
    std::fs::write(&query, jpeg).expect("write");
    let found = run(
        &[
            "similar", "--index", index_arg, "--k", "3", "--format", "jsonl",
        ],
        &[&query, &dir.path().join("missing.jpg")],
    );
    let results = lines(&found);
    assert_eq!(results.len(), 2, "one line per query");
    let original_name = files[0].file_name().and_then(|n| n.to_str()).expect("name");
    assert_eq!(
        results[0]["similar"][0]["file"], original_name,
        "{:?}",
        results[0]
    );
    assert_eq!(results[0]["similar"].as_array().map(Vec::len), Some(3));
    let best = results[0]["similar"][0]["score"].as_f64().expect("score");
    let next = results[0]["similar"][1]["score"].as_f64().expect("score");
    assert!(best > next + 0.1, "a clear first: {best} vs {next}");
    assert!(results[1]["error"].is_string(), "{:?}", results[1]);
    assert_eq!(found.status.code(), Some(1));

    // Incremental: only the new poster is run.
    std::fs::remove_file(catalogue.join("notes.jpg")).expect("rm");
    std::fs::rename(&held, &late).expect("arrives");
    let again = run(&["index", "--out", index_arg], &[&catalogue]);
    assert!(again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("40 posters are already in the index"),
        "{stderr}"
    );
    assert!(
        stderr.contains("41 posters (1 added, 0 skipped)"),
        "{stderr}"
    );

    // A damaged index is refused with a reason, not searched.
    let mut bytes = std::fs::read(&index).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&index, bytes).expect("damage");
    let damaged = run(&["similar", "--index", index_arg], &[&query]);
    assert!(!damaged.status.success());
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("checksum mismatch"),
        "the error says why"
    );
}

#[test]
fn a_genre_map_lies_where_the_poster_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let poster = image::open(&posters(dir.path(), 1)[0])
        .expect("decode")
        .to_rgb8();
    let (w, h) = poster.dimensions();
    // The poster in the left half of a blank canvas twice its width.
    let mut canvas = RgbImage::from_pixel(w * 2, h, Rgb([255, 255, 255]));
    imageops::replace(&mut canvas, &poster, 0, 0);
    let placed = dir.path().join("left.png");
    canvas.save(&placed).expect("save");

    let output = run(&["explain", "--format", "json"], &[&placed]);
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(json["genre"].is_string());
    let rows: Vec<Vec<f64>> = serde_json::from_value(json["map"].clone()).expect("rows");
    let width = rows[0].len();
    let mass = |columns: std::ops::Range<usize>| -> f64 {
        rows.iter()
            .map(|row| row[columns.clone()].iter().map(|v| v.abs()).sum::<f64>())
            .sum()
    };
    let (left, right) = (mass(0..width / 2), mass(width.div_ceil(2)..width));
    assert!(left > 2.0 * right, "left {left} against right {right}");

    let heat = dir.path().join("heat.png");
    let drawn = run(
        &["explain", "--out", heat.to_str().expect("utf-8")],
        &[&placed],
    );
    assert!(drawn.status.success());
    let (hw, hh) = image::open(&heat).expect("a PNG").dimensions();
    assert!(hw.max(hh) <= 640, "{hw}×{hh}");
    let aspect = f64::from(hw) / f64::from(hh) / (f64::from(w * 2) / f64::from(h));
    assert!(
        (aspect - 1.0).abs() < 0.02,
        "the overlay keeps the poster's shape"
    );
}
