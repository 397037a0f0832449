//! Helpers shared by the integration tests: where ../shared is, and the reference outputs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::Device;
use onesheet::model::ImageNetClassifier;
use safetensors::SafeTensors;

/// `../shared`, or `$ONESHEET_SHARED`.
pub fn shared() -> PathBuf {
    std::env::var_os("ONESHEET_SHARED").map_or_else(|| PathBuf::from("../shared"), PathBuf::from)
}

/// The pretrained weights file.
pub fn weights_path() -> PathBuf {
    shared().join("weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors")
}

/// A wgpu device on the machine's adapter (lavapipe where there is no GPU).
pub fn wgpu_device() -> Device {
    Device::wgpu_options()
        .init()
        .expect("a wgpu adapter: install mesa-vulkan-drivers for lavapipe")
}

/// The pretrained network on `device`.
pub fn pretrained(device: &Device) -> ImageNetClassifier {
    onesheet::pretrained::load_file(&weights_path(), device).expect("pretrained weights load")
}

/// The reference tensors (`input.NAME`, `features.NAME`, `logits.NAME`, `stem.empire`).
pub struct Reference {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Reference {
    pub fn load() -> Self {
        let path = shared().join("reference/mobilenet_v2/reference.safetensors");
        let bytes = std::fs::read(&path).expect("reference.safetensors");
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let values = bytemuck::pod_collect_to_vec::<u8, f32>(view.data());
                (name, (view.shape().to_vec(), values))
            })
            .collect();
        Self { tensors }
    }

    /// Image names, in the file's order.
    pub fn names(&self) -> Vec<String> {
        self.tensors
            .keys()
            .filter_map(|k| k.strip_prefix("input.").map(str::to_string))
            .collect()
    }

    pub fn get(&self, key: &str) -> &[f32] {
        &self.tensors[key].1
    }

    /// Where each reference image's source file lives.
    pub fn source_image(name: &str) -> PathBuf {
        let reference = shared().join("reference/mobilenet_v2");
        if name.starts_with("tt") {
            shared().join(format!("data/posters/images/{name}.jpg"))
        } else {
            reference.join(format!("images/{name}.jpg"))
        }
    }
}

/// max |a − b| / max |b|: the worst error relative to the reference's scale.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "length");
    let scale = expected.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    worst / scale
}

pub fn argmax(values: &[f32]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .expect("non-empty")
}
