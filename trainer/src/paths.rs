//! Where inputs live by default: `../shared` beside the checkout, overridable by flag or env.

/// The ImageNet-pretrained MobileNetV2 weights.
pub const WEIGHTS: &str = "../shared/weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors";
/// The labelled posters: `posters/` (1980–2015) and `vintage/` (before 1980).
pub const DATA: &str = "../shared/data";
/// Where the trainer keeps its split, feature cache, checkpoints and logs.
pub const WORK: &str = "work";
/// The shipped model.
pub const MODEL: &str = "models/onesheet.safetensors";
