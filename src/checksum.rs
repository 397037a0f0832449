//! The content checksum every onesheet file carries (bundles, indexes): SHA-256 over a JSON
//! description and every tensor's name, dtype, shape and data, in name order, so it does not
//! depend on how the file lays the tensors out.

use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

/// A checksum being computed; add tensors in name order.
pub(crate) struct Checksum(Sha256);

impl Checksum {
    /// Starts with the file's JSON description.
    pub(crate) fn new(description: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(description.as_bytes());
        Self(hasher)
    }

    /// Adds one tensor.
    pub(crate) fn add(&mut self, name: &str, dtype: Dtype, shape: &[usize], data: &[u8]) {
        self.0.update(name.as_bytes());
        self.0.update(format!("{dtype:?}{shape:?}").as_bytes());
        self.0.update(data);
    }

    /// The checksum, as lowercase hex.
    pub(crate) fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }

    /// The checksum of a description and a file's tensors.
    pub(crate) fn of(description: &str, tensors: &SafeTensors<'_>) -> String {
        let mut checksum = Self::new(description);
        let mut named = tensors.tensors();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, view) in named {
            checksum.add(&name, view.dtype(), view.shape(), view.data());
        }
        checksum.finish()
    }
}
