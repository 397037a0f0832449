//! The trainer end to end on a small synthetic dataset: train (all four stages), resume after an
//! interruption, evaluate, and classify a folder of good and bad files.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::onesheet;

use image::{Rgb, RgbImage};
use serde_json::Value;

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("the binary runs");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// A poster whose colour follows its first genre, with a stripe so mirroring changes it and a
/// mark at a place of its own so no two posters are the same image.
fn poster(genre: &str, index: u32) -> RgbImage {
    let base: [u8; 3] = match genre {
        "Action" => [200, 40, 30],
        "Drama" => [30, 40, 180],
        "Comedy" => [230, 210, 40],
        _ => [90, 140, 60],
    };
    let (mark_x, mark_y) = (20 + index % 30, 10 + (index / 30) * 8);
    RgbImage::from_fn(60, 90, |x, y| {
        if (mark_x..mark_x + 6).contains(&x) && (mark_y..mark_y + 6).contains(&y) {
            return Rgb([255, 255, 255]);
        }
        let stripe = if x < 12 { 60 } else { 0 };
        Rgb([
            base[0].saturating_sub(stripe),
            base[1].saturating_add((y % 7) as u8 * 3),
            base[2].saturating_add(stripe),
        ])
    })
}

/// `root/{posters,vintage}/{labels.csv,images/}` with `n` films each and one duplicate image.
fn synthetic_dataset(root: &Path, n: usize) {
    let genres = [
        "Action",
        "Drama",
        "Comedy",
        "Action|Western",
        "Drama|War",
        "Comedy|Drama",
    ];
    for (collection, first_year) in [("posters", 1980), ("vintage", 1930)] {
        let images = root.join(collection).join("images");
        std::fs::create_dir_all(&images).expect("mkdir");
        let mut csv = String::from("imdb_id,year,title,genres,source_genres\n");
        for i in 0..n {
            let id = format!("tt{collection}{i:04}");
            let genre = genres[i % genres.len()];
            let first = genre.split('|').next().unwrap_or(genre);
            let mut image = poster(first, i as u32);
            if collection == "vintage" {
                // Faded, warmer prints: also keeps them apart from the modern ones.
                for p in image.pixels_mut() {
                    p.0 = [p.0[0] / 2 + 100, p.0[1] / 2 + 80, p.0[2] / 2 + 40];
                }
            }
            image.save(images.join(format!("{id}.jpg"))).expect("save");
            let year = first_year + (i % 30);
            writeln!(csv, "{id},{year},Film {i},{genre},{genre}").expect("a String");
        }
        // The same artwork under a second id: must be dropped before splitting.
        let twin = format!("tt{collection}twin");
        std::fs::copy(
            images.join(format!("tt{collection}0000.jpg")),
            images.join(format!("{twin}.jpg")),
        )
        .expect("copy");
        writeln!(csv, "{twin},{first_year},Twin,Action,Action").expect("a String");
        std::fs::write(root.join(collection).join("labels.csv"), csv).expect("csv");
    }
}

fn checksum(bundle: &Path) -> String {
    let bytes = std::fs::read(bundle).expect("bundle");
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors");
    metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("onesheet.checksum").cloned())
        .expect("a checksum")
}

fn train(data: &Path, work: &Path, out: &Path, extra: &[&str]) -> Output {
    run(onesheet()
        .arg("train")
        .arg("--data")
        .arg(data)
        .arg("--work")
        .arg(work)
        .arg("--out")
        .arg(out)
        .args(["--size", "64x96", "--f32", "--batch", "8"])
        // A fixed creation time, so runs that train the same model write the same bundle.
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(extra))
}

/// Every stage, a few epochs each; the fine-tuning stage from block 14 on.
const STAGES: [&str; 10] = [
    "--stage",
    "full",
    "--head-epochs",
    "3",
    "--top-epochs",
    "2",
    "--full-epochs",
    "2",
    "--full-from-block",
    "14",
];

#[test]
fn trains_evaluates_and_classifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    synthetic_dataset(&data, 36);
    let work = dir.path().join("work");
    let model = dir.path().join("model.safetensors");

    let output = train(&data, &work, &model, &STAGES);
    assert!(output.status.success(), "training failed");

    // The split: every film once, the duplicate dropped, each part non-empty per collection.
    let split = std::fs::read_to_string(work.join("split.csv")).expect("split written");
    let rows: Vec<&str> = split.lines().skip(1).collect();
    assert_eq!(rows.len(), 2 * 36, "{split}");
    assert!(!split.contains("twin"), "the duplicate poster was kept");
    for collection in ["posters", "vintage"] {
        for part in ["train", "validation", "test"] {
            let tag = format!(",{collection},{part},42");
            assert!(
                rows.iter().any(|r| r.ends_with(&tag)),
                "no {collection} {part} films"
            );
        }
    }
    // The split is reused, not redrawn, by the next run: a film moved by hand from validation
    // to training stays there (a redrawn split would put it back).
    let moved = rows
        .iter()
        .find(|r| r.contains(",posters,validation,"))
        .expect("a validation film");
    let edited = split.replacen(moved, &moved.replace(",validation,", ",train,"), 1);
    std::fs::write(work.join("split.csv"), &edited).expect("edit the split");
    let again = train(&data, &work, &model, &STAGES);
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(work.join("split.csv")).expect("split"),
        edited
    );
    // Another seed is refused, not silently ignored, while the split on disk has its own.
    let reseeded = train(&data, &work, &model, &["--seed", "7"]);
    assert!(!reseeded.status.success());
    let stderr = String::from_utf8_lossy(&reseeded.stderr);
    assert!(
        stderr.contains("seed 42") && stderr.contains("split anew"),
        "{stderr}"
    );

    let bytes = std::fs::read(&model).expect("model written");
    let manifest = onesheet::Bundle::read_manifest(&bytes).expect("a bundle");
    assert!(manifest.provenance.trained);
    // Provenance comes from the run: its date, its split, its settings and every stage.
    let provenance = &manifest.provenance;
    assert_eq!(provenance.created, "2023-11-14T22:13:20Z");
    // The command that trains it again: a flag for each setting off the shipped recipe.
    assert_eq!(
        provenance.command.as_deref(),
        Some(
            "onesheet train --size 64x96 --head-epochs 3 --top-epochs 2 --full-epochs 2 \
             --full-from-block 14 --f32"
        )
    );
    assert!(
        provenance
            .training_data
            .contains("70% train, split seed 42"),
        "{provenance:?}"
    );
    assert!(
        provenance.backbone.contains("weights SHA-256 "),
        "{provenance:?}"
    );
    for needle in [
        "head:",
        "top:",
        "full:",
        "blocks 14–16 and the last 1×1 conv trained (stem and blocks 0–13 frozen)",
        "dropout 0.6",
        "release year",
        "seed 42",
    ] {
        assert!(
            provenance.recipe.contains(needle),
            "recipe lacks {needle}: {provenance:?}"
        );
    }
    assert_eq!((manifest.input.width, manifest.input.height), (64, 96));
    // The films span the 1930s to the 2000s: the bundle learned a prior over those decades.
    let prior = manifest.year.as_ref().expect("a year prior");
    assert_eq!(prior.first_decade, 1930);
    assert_eq!(prior.offsets.len(), 8);
    assert!(prior.validate().is_ok());
    assert!(
        manifest
            .thresholds()
            .iter()
            .all(|t| (0.0..=1.0).contains(t))
    );

    // The levers: other poolings of the feature map and the year's two uses, measured with the
    // year too where they read it; a second run of some levers keeps the others' results, and
    // the ones the training run wrote.
    let levers = |only: &str| {
        run(onesheet()
            .arg("levers")
            .arg("--data")
            .arg(&data)
            .arg("--work")
            .arg(&work)
            .args(["--size", "64x96", "--batch", "8", "--only", only]))
    };
    assert!(levers("MLP 128").status.success(), "levers failed");
    assert!(levers("GeM").status.success(), "levers failed");
    let results: Vec<Value> =
        serde_json::from_slice(&std::fs::read(work.join("levers.json")).expect("levers.json"))
            .expect("levers JSON");
    let names: Vec<&str> = results.iter().filter_map(|r| r["name"].as_str()).collect();
    // Seven levers, and the training run's own fine-tuning stage.
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(names[0], "fine-tuning stage `full` (+ the year's prior)");
    for result in &results {
        let name = result["name"].as_str().unwrap_or_default();
        let auc = result["vintage_macro_auc"].as_f64().expect("an AUC");
        assert!((0.0..=1.0).contains(&auc), "{result}");
        let with_year = result["vintage_macro_auc_with_year"].as_f64();
        assert_eq!(
            with_year.is_some(),
            name.contains("year") || name.contains("decade"),
            "{result}"
        );
    }
    assert!(
        results.iter().any(|r| r["inputs"]
            .as_str()
            .is_some_and(|i| i.contains("decade one-hot (11)"))),
        "{results:?}"
    );

    let report = dir.path().join("REPORT.md");
    let output = run(onesheet()
        .arg("evaluate")
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--work")
        .arg(&work)
        .arg("--report")
        .arg(&report)
        .args(["--batch", "8"]));
    assert!(output.status.success(), "evaluate failed");
    let text = std::fs::read_to_string(&report).expect("report written");
    for needle in [
        "## Summary",
        "logistic regression",
        "label-frequency prior",
        "Per decade",
        "given the release year",
        "| with the year |",
        "RBF SVM on frozen features",
        "classes balanced",
        "4-layer MLP",
        "grayscale pixels + k-NN",
        "+ logistic regression",
        "+ random forest",
        "small CNN from scratch",
        "## What we tried",
        "mean + max pooling",
        "macro ROC-AUC given the year",
        "This bundle's run fine-tuned the backbone (stage `top`",
    ] {
        assert!(text.contains(needle), "report lacks {needle}:\n{text}");
    }
    for needle in [
        "thresholds tuned for",
        "| accuracy |",
        "| precision (recall ≥ 0.25) |",
        "## Dominant colours (seed 001)",
    ] {
        assert!(text.contains(needle), "report lacks {needle}:\n{text}");
    }
    for plot in [
        "auc-posters.png",
        "auc-vintage.png",
        "roc-posters.png",
        "pr-vintage.png",
        "colours-genre.png",
        "colours-decade.png",
        "decades.png",
        "loss.png",
    ] {
        let png = image::open(dir.path().join("report").join(plot)).expect("a PNG plot");
        assert!(png.width() > 100);
    }

    // classify: a folder with good posters, a text file named .jpg, a truncated JPEG and a
    // non-image file that the folder walk must skip.
    let folder = dir.path().join("catalogue");
    std::fs::create_dir_all(folder.join("nested")).expect("mkdir");
    poster("Action", 100)
        .save(folder.join("a.jpg"))
        .expect("save");
    poster("Drama", 101)
        .save(folder.join("nested/b.png"))
        .expect("save");
    std::fs::write(folder.join("notes.jpg"), "not a poster").expect("write");
    let jpeg = std::fs::read(folder.join("a.jpg")).expect("read");
    std::fs::write(folder.join("cut.jpg"), &jpeg[..jpeg.len() / 3]).expect("write");
    std::fs::write(folder.join("readme.txt"), "skipped").expect("write");
    let output = run(onesheet()
        .arg("classify")
        .arg("--model")
        .arg(&model)
        .args(["--format", "jsonl"])
        .arg(&folder));
    assert_eq!(output.status.code(), Some(1), "some files failed: exit 1");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let name = |v: &Value| {
        Path::new(v["file"].as_str().expect("file"))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let names: Vec<String> = lines.iter().map(name).collect();
    assert_eq!(names, ["a.jpg", "cut.jpg", "b.png", "notes.jpg"]);
    for line in &lines {
        match name(line).as_str() {
            "a.jpg" | "b.png" => {
                let scores = line["scores"].as_object().expect("scores");
                assert_eq!(scores.len(), 19);
                assert!(!line["genres"].as_array().expect("genres").is_empty());
            }
            _ => assert!(
                line["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{line}"
            ),
        }
    }

    // The other formats carry the same rows; usage errors exit 2.
    let csv = run(onesheet()
        .arg("classify")
        .arg("--model")
        .arg(&model)
        .args(["--format", "csv"])
        .arg(folder.join("a.jpg")));
    assert!(csv.status.success());
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("file,genres,error,Action,"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
    let usage = run(onesheet().args(["classify", "--format", "xml", "x.jpg"]));
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn resuming_after_an_interruption_gives_the_same_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    synthetic_dataset(&data, 24);
    let args = ["--stage", "top", "--head-epochs", "3", "--top-epochs", "4"];

    let straight = dir.path().join("straight.safetensors");
    let output = train(&data, &dir.path().join("work-a"), &straight, &args);
    assert!(output.status.success());

    let resumed = dir.path().join("resumed.safetensors");
    let work = dir.path().join("work-b");
    let mut stopped: Vec<&str> = args.to_vec();
    stopped.extend(["--stop-after-epoch", "2"]);
    let output = train(&data, &work, &resumed, &stopped);
    assert!(
        !output.status.success(),
        "the interrupted run must not report success"
    );
    assert!(!resumed.exists(), "an interrupted run wrote a model");
    // One run directory under top/, named for its configuration.
    let runs: Vec<PathBuf> = std::fs::read_dir(work.join("top"))
        .expect("top/ exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].join("checkpoint/model-2.bpk").exists());
    assert!(!runs[0].join("checkpoint/model-3.bpk").exists());
    // As a kill in the middle of writing epoch 2's checkpoint would leave it: its optimizer
    // state cut short. Resuming must notice and start again from epoch 1.
    let optim = runs[0].join("checkpoint/optim-2.bpk");
    let bytes = std::fs::read(&optim).expect("optimizer checkpoint");
    std::fs::write(&optim, &bytes[..bytes.len() / 2]).expect("truncate");

    let output = train(&data, &work, &resumed, &args);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("epoch 2") && stderr.contains("incomplete"),
        "{stderr}"
    );
    assert!(stderr.contains("after epoch 1"), "{stderr}");
    // The checksum covers the manifest and every tensor (metadata order may differ).
    assert_eq!(
        checksum(&straight),
        checksum(&resumed),
        "the resumed run differs from the uninterrupted one"
    );

    // A damaged feature-cache chunk is computed again, not trusted (nor fatal): one byte of
    // its data flipped, the next run notices and trains the same model.
    let cache = std::fs::read_dir(dir.path().join("work-a/cache"))
        .expect("cache/")
        .next()
        .expect("a cache key folder")
        .expect("entry")
        .path()
        .join("chunk-00000.safetensors");
    let mut chunk = std::fs::read(&cache).expect("a cached chunk");
    let last = chunk.len() - 1;
    chunk[last] ^= 0x40;
    std::fs::write(&cache, &chunk).expect("damage the chunk");
    let again = dir.path().join("again.safetensors");
    let output = train(&data, &dir.path().join("work-a"), &again, &args);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(checksum(&straight), checksum(&again));

    // Other settings in the same working directory start a run of their own beside it, and
    // so does the same top stage after another head.
    let other = dir.path().join("other.safetensors");
    for other_args in [
        ["--stage", "top", "--head-epochs", "3", "--top-epochs", "3"],
        ["--stage", "top", "--head-epochs", "2", "--top-epochs", "3"],
    ] {
        let output = train(&data, &work, &other, &other_args);
        assert!(output.status.success());
        assert!(!String::from_utf8_lossy(&output.stderr).contains("resuming"));
    }
    assert_eq!(
        std::fs::read_dir(work.join("top")).expect("top/").count(),
        3
    );
}
