//! The burn MobileNetV2 reproduces the reference forward pass of the pretrained weights, on the
//! CPU backend (flex) and on a real wgpu adapter (lavapipe where there is no GPU).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Reference, argmax, pretrained, relative_error};
use onesheet::inference::read_rows_sync;

/// "About 1e-4 relative error", from the weights' README.
const TOLERANCE: f32 = 1e-4;

fn input(reference: &Reference, name: &str, device: &Device) -> Tensor<4> {
    let data = reference.get(&format!("input.{name}")).to_vec();
    Tensor::from_data(TensorData::new(data, [1, 3, 224, 224]), device)
}

fn check_parity(device: &Device, backend: &str) {
    let reference = Reference::load();
    let network = pretrained(device);

    // The stem alone pins the asymmetric "SAME" padding.
    let stem = network
        .backbone
        .stem
        .forward(input(&reference, "empire", device));
    let stem: Vec<f32> = stem.into_data().try_into_vec().expect("f32");
    let error = relative_error(&stem, reference.get("stem.empire"));
    println!("{backend} stem.empire relative error {error:.2e}");
    assert!(error <= TOLERANCE, "stem error {error}");

    for name in reference.names() {
        let x = input(&reference, &name, device);
        let features = network.backbone.forward(x.clone());
        let logits = network.classifier.forward(features.clone());
        let features = &read_rows_sync(features).expect("features")[0];
        let logits = &read_rows_sync(logits).expect("logits")[0];
        let expected_logits = reference.get(&format!("logits.{name}"));
        let fe = relative_error(features, reference.get(&format!("features.{name}")));
        let le = relative_error(logits, expected_logits);
        println!("{backend} {name}: features {fe:.2e}, logits {le:.2e}");
        assert!(fe <= TOLERANCE, "{name} features error {fe}");
        assert!(le <= TOLERANCE, "{name} logits error {le}");
        assert_eq!(argmax(logits), argmax(expected_logits), "{name} top-1");
    }
}

#[test]
fn flex_matches_reference() {
    check_parity(&Device::flex(), "flex");
}

#[test]
fn wgpu_matches_reference() {
    check_parity(&common::wgpu_device(), "wgpu");
}

#[test]
fn non_square_input_pools_to_1280_features() {
    let device = Device::flex();
    let network = pretrained(&device);
    let x = Tensor::<4>::zeros([2, 3, 320, 224], &device);
    assert_eq!(
        network.backbone.feature_map(x.clone()).dims(),
        [2, 1280, 10, 7]
    );
    assert_eq!(network.backbone.forward(x).dims(), [2, 1280]);
}
