//! `onesheet embed` on good and bad files: one JSON line each, order kept, exit codes 0/1/2.

mod common;

use common::{onesheet, shared};

use serde_json::Value;

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn embeds_good_files_and_reports_bad_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a poster").expect("write");
    let poster = shared().join("data/posters/images/tt0111161.jpg");
    let empire = shared().join("reference/mobilenet_v2/images/empire.jpg");

    let output = onesheet()
        .arg("embed")
        .args([&poster, &text, &empire])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["file"], poster.display().to_string());
    assert_eq!(lines[1]["file"], text.display().to_string());
    assert!(
        lines[1]["error"]
            .as_str()
            .expect("error")
            .contains("not a JPEG")
    );
    assert_eq!(lines[2]["file"], empire.display().to_string());

    let embedding: Vec<f64> =
        serde_json::from_value(lines[0]["embedding"].clone()).expect("floats");
    assert_eq!(embedding.len(), 1280);
    // The reference preprocessed with PIL; ours resizes slightly differently, so the embedding
    // is close, not equal (tests/parity.rs checks the network on identical inputs).
    let reference = reference_features("tt0111161");
    let similarity = cosine(&embedding, &reference);
    assert!(
        similarity > 0.99,
        "cosine similarity to the reference {similarity}"
    );
}

#[test]
fn all_good_exits_zero_and_usage_errors_exit_two() {
    let poster = shared().join("data/posters/images/tt0111161.jpg");
    let ok = onesheet()
        .args(["embed", "--size", "160x240"])
        .arg(&poster)
        .output()
        .expect("runs");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad_size = onesheet()
        .args(["embed", "--size", "big"])
        .arg(&poster)
        .output()
        .expect("runs");
    assert_eq!(bad_size.status.code(), Some(2));
    let no_files = onesheet().arg("embed").output().expect("runs");
    assert_eq!(no_files.status.code(), Some(2));
}

#[test]
fn missing_weights_is_a_clear_error() {
    let poster = shared().join("data/posters/images/tt0111161.jpg");
    let output = onesheet()
        .args(["embed", "--weights", "/nonexistent/weights.safetensors"])
        .arg(&poster)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/weights.safetensors"),
        "{stderr}"
    );
}

fn reference_features(name: &str) -> Vec<f64> {
    let path = shared().join("reference/mobilenet_v2/reference.safetensors");
    let bytes = std::fs::read(path).expect("reference");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let view = tensors
        .tensor(&format!("features.{name}"))
        .expect("features tensor");
    bytemuck::pod_collect_to_vec::<u8, f32>(view.data())
        .into_iter()
        .map(f64::from)
        .collect()
}
