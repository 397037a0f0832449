//! burn-train's progress as an indicatif bar (burn's plain renderer prints a line per batch).

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::ProgressBar;

use onesheet::progress;

/// One bar per split of each epoch, titled with the stage, epoch and split.
pub struct BarRenderer {
    stage: String,
    epoch: usize,
    epochs: usize,
    bar: ProgressBar,
}

impl BarRenderer {
    /// A renderer for the stage named `stage`.
    pub fn new(stage: &str) -> Self {
        Self {
            stage: stage.to_string(),
            epoch: 1,
            epochs: 0,
            bar: ProgressBar::hidden(),
        }
    }
}

impl MetricsRendererTraining for BarRenderer {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
}

impl TrainingProgressLogger for BarRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.bar = progress::bar(
            total_items as u64,
            &format!(
                "{} epoch {}/{} {split}",
                self.stage, self.epoch, self.epochs
            ),
        );
    }

    fn update_split(&mut self, items_processed: usize) {
        self.bar.set_position(items_processed as u64);
    }

    fn end_split(&mut self) {
        self.bar.finish_and_clear();
    }

    fn end(&mut self) {
        self.bar.finish_and_clear();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for BarRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for BarRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for BarRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}
