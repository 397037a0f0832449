//! Where inputs live by default: `../shared` beside the checkout, overridable by flag or env.

/// The ImageNet-pretrained MobileNetV2 weights.
pub const WEIGHTS: &str = "../shared/weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors";
