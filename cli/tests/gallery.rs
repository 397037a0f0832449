//! `onesheet gallery` run again into its own output: with `--out` inside the input folder the
//! site's pictures are never read as posters, a smaller catalogue leaves no page of the bigger
//! one behind, and a symlinked `pictures/` is refused before anything is written through it.

#![cfg(unix)]

mod common;
mod fixtures;

use std::path::Path;
use std::process::Output;

use common::onesheet;
use fixtures::{bundle, poster};

fn gallery(model: &Path, input: &Path, out: &Path) -> Output {
    let output = onesheet()
        .arg("gallery")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--model")
        .arg(model)
        .output()
        .expect("gallery runs");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir).expect("list").count()
}

#[test]
fn a_gallery_inside_its_input_reads_only_posters_and_replaces_its_earlier_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let shop = dir.path().join("shop");
    std::fs::create_dir_all(&shop).expect("mkdir");
    for (i, name) in ["a.png", "b.png", "c.png"].into_iter().enumerate() {
        poster(&shop.join(name), 60 * i as u8);
    }
    let site = shop.join("site");

    let first = gallery(&model, &shop, &site);
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stderr).contains("3 posters"));
    assert_eq!(files(&site.join("posters")), 3);

    // Again, into the same folder: its own pictures are not posters.
    let again = gallery(&model, &shop, &site);
    assert!(again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("3 posters (0 skipped)"), "{stderr}");
    assert_eq!(files(&site.join("posters")), 3);

    // A smaller catalogue: the pages and pictures of the posters gone go too.
    std::fs::remove_file(shop.join("c.png")).expect("remove");
    std::fs::write(site.join("pictures/mine.txt"), "not the gallery's").expect("write");
    let smaller = gallery(&model, &shop, &site);
    assert!(smaller.status.success());
    assert_eq!(files(&site.join("posters")), 2);
    assert!(!site.join("posters/2.html").exists());
    assert!(!site.join("pictures/2.jpg").exists());
    assert!(
        site.join("pictures/mine.txt").exists(),
        "only its own files"
    );
}

#[test]
fn a_symlinked_pictures_folder_is_refused_and_nothing_is_written_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let shop = dir.path().join("shop");
    std::fs::create_dir_all(&shop).expect("mkdir");
    poster(&shop.join("a.png"), 10);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, site.join("pictures")).expect("symlink");

    let output = gallery(&model, &shop, &site);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(files(&elsewhere), 0);
}
