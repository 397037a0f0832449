use burn::tensor::{Device, Tensor, TensorData};

use crate::year::Year;

/// One poster, preprocessed: normalised RGB in CHW order, ready to batch, and its year if known.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `3 × height × width` values, channel-major.
    pub data: Vec<f32>,
    /// The film's release year, when known: it moves the scores by decade (see
    /// [`crate::year`]), never the pixels.
    pub year: Option<Year>,
}

impl ModelInput {
    /// The same image mirrored left to right (test-time augmentation).
    pub fn mirrored(&self) -> Self {
        let mut data = self.data.clone();
        for row in data.chunks_mut(self.width) {
            row.reverse();
        }
        Self { data, ..*self }
    }
}

/// Stacks inputs of one size into a `[n, 3, height, width]` tensor.
///
/// # Panics
/// If `inputs` is empty or sizes differ: the caller builds every input from one `InputSpec`.
pub fn batch(inputs: &[ModelInput], device: &Device) -> Tensor<4> {
    let first = inputs.first().expect("a batch holds at least one image");
    assert!(
        inputs
            .iter()
            .all(|i| i.width == first.width && i.height == first.height),
        "every image in a batch has the same size"
    );
    let data: Vec<f32> = inputs.iter().flat_map(|i| i.data.iter().copied()).collect();
    let shape = [inputs.len(), 3, first.height, first.width];
    Tensor::from_data(TensorData::new(data, shape), device)
}
