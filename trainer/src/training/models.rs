//! What each training stage fits, as burn-train learner models: the genre head on pooled
//! embeddings (stage 2), the top blocks + head on cached activations (stage 3), the whole
//! network on images (stage 4). Each says how it turns its input into logits ([`Logits`]);
//! the training and validation steps around that are the same for all.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::train::{InferenceStep, MultiLabelClassificationOutput, TrainOutput, TrainStep};
use onesheet::model::{BackboneTop, GenreClassifier, GenreHead, MobileNetV2};

use super::labelled::Batch;
use super::loss::masked_bce;
use crate::features::TAP_BLOCK;

/// Logits of a stage's model on a batch of its inputs: `[batch, genres]`.
pub trait Logits<const D: usize> {
    /// Runs the model.
    fn logits_of(&self, inputs: Tensor<D>) -> Tensor<2>;
}

/// Stage 2: the genre head alone, reading cached pooled embeddings.
#[derive(Module, Debug)]
pub struct HeadModel {
    /// The head being trained.
    pub head: GenreHead,
}

impl Logits<2> for HeadModel {
    fn logits_of(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.head.forward(embeddings)
    }
}

/// Stage 3: the backbone's top (the blocks from [`TAP_BLOCK`] on and the 1×1 convolution to
/// 1280) and the head, reading the cached activation that enters the top.
#[derive(Module, Debug)]
pub struct TopModel {
    /// The backbone from [`TAP_BLOCK`] on.
    pub top: BackboneTop,
    /// The genre head.
    pub head: GenreHead,
}

impl TopModel {
    /// The top of `backbone` with `head`.
    pub fn new(backbone: &MobileNetV2, head: GenreHead) -> Self {
        Self {
            top: backbone.top(TAP_BLOCK),
            head,
        }
    }

    /// Puts the trained top back on `backbone`.
    pub fn into_backbone(self, backbone: MobileNetV2) -> (MobileNetV2, GenreHead) {
        (backbone.with_top(TAP_BLOCK, self.top), self.head)
    }
}

impl Logits<4> for TopModel {
    fn logits_of(&self, tap: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.top.forward(tap))
    }
}

/// Stage 4: the network on (augmented) images, its lower blocks frozen or not. The backbone's
/// batch norms are folded into its convolutions, so there are no statistics to freeze.
#[derive(Module, Debug)]
pub struct FullModel {
    /// Backbone and head.
    pub model: GenreClassifier,
}

impl Logits<4> for FullModel {
    fn logits_of(&self, images: Tensor<4>) -> Tensor<2> {
        self.model.forward(images)
    }
}

/// The loss of `logits` against the batch's labels, with what burn-train's metrics read.
fn output<const D: usize>(logits: Tensor<2>, batch: Batch<D>) -> MultiLabelClassificationOutput {
    let loss = masked_bce(
        logits.clone(),
        batch.targets.clone(),
        batch.mask,
        batch.pos_weight,
    );
    MultiLabelClassificationOutput::new(loss, logits, batch.targets.int())
}

/// burn-train's steps for a stage model (its traits are foreign, so no blanket impl).
macro_rules! learner_steps {
    ($model:ty, $rank:literal) => {
        impl TrainStep for $model {
            type Input = Batch<$rank>;
            type Output = MultiLabelClassificationOutput;

            fn step(&self, batch: Batch<$rank>) -> TrainOutput<Self::Output> {
                let out = output(self.logits_of(batch.inputs.clone()), batch);
                TrainOutput::new(self, out.loss.backward(), out)
            }
        }

        impl InferenceStep for $model {
            type Input = Batch<$rank>;
            type Output = MultiLabelClassificationOutput;

            fn step(&self, batch: Batch<$rank>) -> Self::Output {
                output(self.logits_of(batch.inputs.clone()), batch)
            }
        }
    };
}

learner_steps!(HeadModel, 2);
learner_steps!(TopModel, 4);
learner_steps!(FullModel, 4);
