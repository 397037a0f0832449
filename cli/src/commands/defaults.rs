//! Where inputs live by default: `../shared` beside the checkout, overridable by flag or env.

/// The ImageNet-pretrained MobileNetV2 weights.
pub const WEIGHTS: &str = "../shared/weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors";
/// The labelled posters: `posters/` (1980–2015) and `vintage/` (before 1980).
#[cfg(feature = "train")]
pub const DATA: &str = "../shared/data";
/// Where the trainer keeps its split, feature cache, checkpoints and logs.
#[cfg(feature = "train")]
pub const WORK: &str = "work";
/// Where `train` writes the model and `evaluate` reads it (the other subcommands run the
/// model built into the binary unless told otherwise).
#[cfg(feature = "train")]
pub const MODEL: &str = "models/onesheet.safetensors";
