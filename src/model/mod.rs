//! The network: a MobileNetV2 backbone and a multi-label genre head, written once for the
//! trainer, the CLI and the browser.

mod classifier;
mod conv_relu6;
mod genre_head;
mod input;
mod inverted_residual;
mod mobilenetv2;

pub use classifier::{GenreClassifier, ImageNetClassifier, Outputs};
pub use conv_relu6::ConvRelu6;
pub use genre_head::{GenreHead, GenreHeadConfig};
pub use input::{ModelInput, batch};
pub use inverted_residual::{InvertedResidual, InvertedResidualConfig};
pub use mobilenetv2::{BackboneTop, FEATURES, MobileNetV2, MobileNetV2Config, global_average_pool};
