//! A data loader whose shuffle (and augmentation) is a function of (seed, epoch).
//!
//! burn's own loader draws each epoch's order from one generator that lives in memory, so a run
//! resumed from a checkpoint would see other orders than the run it continues. Here epoch `e`
//! always has the same order and augmentations, and the backend's generator (dropout) is
//! reseeded with it, so a resumed run repeats the uninterrupted one exactly.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;
use burn::train::Interrupter;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::labelled::Batch;

/// Where batches come from: cached features, or images.
pub trait Source<const D: usize>: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The examples at `indices` as a batch on `device`; `augment` is `Some(seed)` to draw
    /// augmentations (the same seed gives the same views), `None` for plain examples.
    fn batch(
        &self,
        indices: &[usize],
        augment: Option<u64>,
        device: &Device,
    ) -> Result<Batch<D>, String>;
}

/// Batches of a [`Source`], shuffled and augmented per epoch when a seed is given.
#[derive(Clone)]
pub struct EpochLoader<const D: usize> {
    source: Arc<dyn Source<D>>,
    batch_size: usize,
    shuffle: Option<u64>,
    epoch: Arc<AtomicUsize>,
    range: Range<usize>,
    device: Device,
    stop_after: Option<(usize, Interrupter)>,
}

impl<const D: usize> EpochLoader<D> {
    /// A loader over every example; `first_epoch` is the epoch its next pass is (1 when
    /// starting, k + 1 when resuming after epoch k).
    pub fn new(
        source: Arc<dyn Source<D>>,
        batch_size: usize,
        shuffle: Option<u64>,
        first_epoch: usize,
        device: Device,
    ) -> Self {
        let range = 0..source.len();
        Self {
            source,
            batch_size: batch_size.max(1),
            shuffle,
            epoch: Arc::new(AtomicUsize::new(first_epoch)),
            range,
            device,
            stop_after: None,
        }
    }

    /// Stops training (as an interruption would) when the epoch after `epoch` begins.
    pub fn stopping_after(mut self, epoch: usize, interrupter: Interrupter) -> Self {
        self.stop_after = Some((epoch, interrupter));
        self
    }
}

struct Iter<const D: usize> {
    loader: EpochLoader<D>,
    order: Vec<usize>,
    augment: Option<u64>,
    at: usize,
}

impl<const D: usize> Iterator for Iter<D> {
    type Item = Result<Batch<D>, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.order.len() {
            return None;
        }
        let end = (self.at + self.loader.batch_size).min(self.order.len());
        let batch = self
            .loader
            .source
            .batch(&self.order[self.at..end], self.augment, &self.loader.device)
            .map_err(|e| DatasetError::new(std::io::Error::other(e)));
        self.at = end;
        Some(batch)
    }
}

impl<const D: usize> DataLoaderIterator<Batch<D>> for Iter<D> {
    fn progress(&self) -> Progress {
        Progress {
            items_processed: self.at,
            items_total: self.order.len(),
            unit: None,
        }
    }
}

impl<const D: usize> DataLoader<Batch<D>> for EpochLoader<D> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<Batch<D>> + 'a> {
        let mut order: Vec<usize> = self.range.clone().collect();
        let mut augment = None;
        if let Some(seed) = self.shuffle {
            let epoch = self.epoch.fetch_add(1, Ordering::SeqCst);
            if let Some((last, interrupter)) = &self.stop_after
                && epoch > *last
            {
                interrupter.stop(Some("stopped on request after a checkpoint"));
            }
            let epoch = epoch as u64;
            let epoch_seed = seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            order.shuffle(&mut StdRng::seed_from_u64(epoch_seed));
            self.device.seed(epoch_seed);
            augment = Some(epoch_seed);
        }
        Box::new(Iter {
            loader: self.clone(),
            order,
            augment,
            at: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.range.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<Batch<D>>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<Batch<D>>> {
        let from = self.range.start;
        Arc::new(Self {
            range: (from + start).min(self.range.end)..(from + end).min(self.range.end),
            ..self.clone()
        })
    }
}
