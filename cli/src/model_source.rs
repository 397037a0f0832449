//! Which bundle a tool runs: the shipped model, built into the binary so `onesheet` works from
//! any folder (and after `cargo install`), or a file named by `--model` or `ONESHEET_MODEL`.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use onesheet::files::read::{self, ReadError};

/// The shipped bundle (`models/onesheet.safetensors` when this binary was built).
pub const SHIPPED: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/onesheet.safetensors"
));

/// Where a tool's bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModelSource {
    /// The bundle built into the binary.
    #[default]
    Shipped,
    /// A bundle file.
    File(PathBuf),
}

impl ModelSource {
    /// The bundle's bytes (a file is read within [`read::MAX_BUNDLE_BYTES`]).
    pub fn bytes(&self) -> Result<Cow<'static, [u8]>, ReadError> {
        match self {
            Self::Shipped => Ok(Cow::Borrowed(SHIPPED)),
            Self::File(path) => read::bundle(path).map(Cow::Owned),
        }
    }
}

impl From<Option<PathBuf>> for ModelSource {
    fn from(path: Option<PathBuf>) -> Self {
        path.map_or(Self::Shipped, Self::File)
    }
}

/// As messages name it: the file, or "the shipped model".
impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shipped => f.write_str("the shipped model"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_is_a_bundle() {
        let bytes = ModelSource::Shipped.bytes().expect("embedded");
        let device = onesheet::Backend::Cpu.device().expect("cpu");
        let bundle = onesheet::Bundle::from_bytes(&bytes, &device);
        assert!(bundle.is_ok(), "{:?}", bundle.err());
    }

    #[test]
    fn a_missing_file_names_itself() {
        let source = ModelSource::from(Some(PathBuf::from("/nonexistent/shop.safetensors")));
        let error = source.bytes().expect_err("missing");
        assert!(
            error.to_string().contains("/nonexistent/shop.safetensors"),
            "{error}"
        );
        assert_eq!(ModelSource::from(None).to_string(), "the shipped model");
    }
}
