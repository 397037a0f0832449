//! `onesheet classify` and `embed` against hostile file names and folders: a name that is not
//! UTF-8, one carrying terminal escape sequences and a newline, one that a spreadsheet would run
//! as a formula, and a symlink loop. Nothing panics, nothing is lost, nothing is injected.

#![cfg(unix)]

mod common;
mod fixtures;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

use common::{onesheet, shared};
use fixtures::{bundle, poster};
use serde_json::Value;

fn classify(model: &Path, format: &str, inputs: &[&Path]) -> Output {
    let output = onesheet()
        .arg("classify")
        .arg("--model")
        .arg(model)
        .args(["--format", format])
        .args(inputs)
        .output()
        .expect("classify runs");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn hostile_names_are_reported_never_panicked_on_or_injected() {
    assert!(
        shared().exists(),
        "../shared is needed for the pretrained weights"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let posters = dir.path().join("posters");
    std::fs::create_dir_all(&posters).expect("mkdir");
    let not_utf8 = posters.join(OsStr::from_bytes(b"affiche-\xff\xfe.png"));
    let escapes = posters.join("evil\u{1b}[2J\u{1b}]0;pwned\u{7}\nrow.png");
    let formula = posters.join("=HYPERLINK(\"http:x\").png");
    for (i, path) in [&not_utf8, &escapes, &formula].into_iter().enumerate() {
        poster(path, 40 * i as u8);
    }

    // JSON lines: every poster classified, names lossily readable, all valid JSON.
    let output = classify(&model, "jsonl", &[&posters]);
    assert_eq!(output.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["scores"].as_object().is_some_and(|s| s.len() == 19))
    );
    assert!(lines.iter().any(|l| {
        l["file"]
            .as_str()
            .is_some_and(|f| f.contains("affiche-\u{fffd}"))
    }));

    // One JSON array.
    let output = classify(&model, "json", &[&posters]);
    assert_eq!(output.status.code(), Some(0));
    let array: Value = serde_json::from_slice(&output.stdout).expect("a JSON array");
    assert_eq!(array.as_array().map(Vec::len), Some(3));

    // The table: one line per poster, no raw control characters reach the terminal.
    let output = classify(&model, "table", &[&posters]);
    assert_eq!(output.status.code(), Some(0));
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        !table
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{table:?}"
    );

    // CSV: the formula-looking name, given relative as a shell user would, is defused.
    let output = onesheet()
        .current_dir(&posters)
        .arg("classify")
        .arg("--model")
        .arg(&model)
        .args(["--format", "csv"])
        .arg(formula.file_name().expect("a name"))
        .output()
        .expect("classify runs");
    assert_eq!(output.status.code(), Some(0));
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let row = reader.records().next().expect("a row").expect("valid CSV");
    assert!(row[0].starts_with("'=HYPERLINK"), "{:?}", &row[0]);

    // embed writes the same lossy names.
    let output = onesheet()
        .args(["embed", "--size", "64x96"])
        .arg(&not_utf8)
        .output()
        .expect("embed runs");
    assert!(output.status.success());
    let line: Value = serde_json::from_slice(&output.stdout).expect("a JSON line");
    assert_eq!(line["embedding"].as_array().map(Vec::len), Some(1280));
}

#[test]
fn a_symlink_loop_costs_its_own_entries_not_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let folder = dir.path().join("catalogue");
    std::fs::create_dir_all(folder.join("sub")).expect("mkdir");
    poster(&folder.join("sub/a.png"), 10);
    std::os::unix::fs::symlink(&folder, folder.join("sub/loop")).expect("symlink");

    let output = classify(&model, "jsonl", &[&folder]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the good poster is classified"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("skipped"));
}

/// `classify` with extra arguments before the inputs, as JSON lines: (exit code, lines, stderr).
fn classify_with(
    model: &Path,
    args: &[&str],
    inputs: &[&Path],
) -> (Option<i32>, Vec<Value>, String) {
    let output = onesheet()
        .arg("classify")
        .arg("--model")
        .arg(model)
        .args(["--format", "jsonl"])
        .args(args)
        .args(inputs)
        .output()
        .expect("classify runs");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    (
        output.status.code(),
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scores_of(line: &Value) -> Vec<f32> {
    onesheet::GENRES
        .iter()
        .map(|g| line["scores"][g.name].as_f64().expect("a score") as f32)
        .collect()
}

#[test]
fn a_year_moves_the_scores_by_the_bundles_prior_and_bad_years_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let manifest = onesheet::Bundle::read_manifest(&std::fs::read(&model).expect("read bundle"))
        .expect("a manifest");
    let prior = manifest.year.expect("the test bundle carries a year prior");
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    poster(&a, 30);
    poster(&b, 200);

    let (code, plain, _) = classify_with(&model, &[], &[&a, &b]);
    assert_eq!(code, Some(0));
    let expect = |line: &Value, year: u16| -> Vec<f32> {
        let year = onesheet::Year::new(i64::from(year)).expect("a year");
        prior.apply(&scores_of(line), year)
    };
    let close =
        |got: &[f32], want: &[f32]| got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-6);

    // One year for every poster; the lines keep their shape.
    let (code, dated, _) = classify_with(&model, &["--year", "1958"], &[&a, &b]);
    assert_eq!(code, Some(0));
    for (with, without) in dated.iter().zip(&plain) {
        let keys: Vec<&String> = with.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["file", "scores", "genres"]);
        assert!(close(&scores_of(with), &expect(without, 1958)));
        assert!(
            !close(&scores_of(with), &scores_of(without)),
            "1958 moved nothing"
        );
    }

    // Per file from a CSV: a listed file gets its year, an empty year and an unlisted file none.
    let csv = dir.path().join("years.csv");
    std::fs::write(&csv, "file,year\nshop/a.png,1925\nb.png,\n").expect("write csv");
    let csv_arg = csv.to_str().expect("a UTF-8 temp path");
    let (code, listed, _) = classify_with(&model, &["--years", csv_arg], &[&a, &b]);
    assert_eq!(code, Some(0));
    assert!(close(&scores_of(&listed[0]), &expect(&plain[0], 1925)));
    assert!(close(&scores_of(&listed[1]), &scores_of(&plain[1])));

    // Refusals name what is wrong, before any poster is read.
    for (args, says) in [
        (vec!["--year", "1492"], "1492 is not a film's release year"),
        (vec!["--year", "MCMLVIII"], "`MCMLVIII` is not a year"),
        (
            vec!["--year", "1958", "--years", csv_arg],
            "cannot be used with",
        ),
    ] {
        let (code, lines, stderr) = classify_with(&model, &args, &[&a]);
        assert_ne!(code, Some(0), "{args:?} was accepted");
        assert!(lines.is_empty());
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    std::fs::write(&csv, "file,year\na.png,1925\nb.png,soon\n").expect("write csv");
    let (code, lines, stderr) = classify_with(&model, &["--years", csv_arg], &[&a]);
    assert_ne!(code, Some(0));
    assert!(lines.is_empty());
    assert!(
        stderr.contains("line 3") && stderr.contains("`soon` is not a year"),
        "{stderr}"
    );
}

/// Runs `onesheet` with `args`, killing it if it has not finished within a minute (reading an
/// endless file would never finish): (exit code, stdout, stderr).
fn run_bounded(args: &[&OsStr]) -> (Option<i32>, String, String) {
    use std::io::Read;
    let mut child = onesheet()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("onesheet runs");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_mins(1) {
            child.kill().expect("kill");
            panic!("still reading after a minute: {args:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    (status.code(), stdout, stderr)
}

#[test]
fn dev_zero_is_refused_by_name_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = bundle(dir.path());
    let good = dir.path().join("good.png");
    poster(&good, 90);
    let zero = Path::new("/dev/zero");

    let (code, stdout, stderr) = run_bounded(&[
        "classify".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--format".as_ref(),
        "jsonl".as_ref(),
        zero.as_os_str(),
        good.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let error = lines[0]["error"].as_str().expect("an error");
    assert!(
        error.contains("/dev/zero") && error.contains("not a regular file"),
        "{error}"
    );
    assert!(lines[1]["scores"].is_object(), "{stdout}");

    // One poster for explain; the model and the catalogue index are named on the command
    // line too.
    let model = model.as_os_str();
    let refused: [&[&OsStr]; 3] = [
        &[
            "explain".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            "--model".as_ref(),
            model,
            zero.as_os_str(),
        ],
        &[
            "classify".as_ref(),
            "--model".as_ref(),
            zero.as_os_str(),
            good.as_os_str(),
        ],
        &[
            "similar".as_ref(),
            "--model".as_ref(),
            model,
            "--index".as_ref(),
            zero.as_os_str(),
            good.as_os_str(),
        ],
    ];
    for args in refused {
        let (code, _, stderr) = run_bounded(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("/dev/zero is not a regular file"),
            "{args:?}: {stderr}"
        );
    }
}
