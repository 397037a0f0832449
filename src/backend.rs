//! The backend vocabulary every face shares: `cpu` and `webgpu`, in the browser and on the
//! command line alike. burn's own names (`flex`, `wgpu`) are accepted as aliases.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's `flex` on the CPU (SIMD; wasm SIMD128 in the browser).
    Cpu,
    /// burn's `wgpu`: the browser's WebGPU, natively Vulkan, Metal or DX12 (lavapipe counts).
    WebGpu,
}

/// A backend name no face knows.
#[derive(Debug, Clone, Error)]
#[error("unknown backend `{0}`: expected \"cpu\" or \"webgpu\" (aliases \"flex\", \"wgpu\")")]
pub struct UnknownBackend(pub String);

/// A backend that could not start.
#[derive(Debug, Clone, Error)]
#[error("the {backend} backend could not start: {reason}")]
pub struct BackendUnavailable {
    /// The backend asked for.
    pub backend: Backend,
    /// What went wrong.
    pub reason: String,
}

impl Backend {
    /// Every backend, CPU first.
    pub const ALL: [Backend; 2] = [Backend::Cpu, Backend::WebGpu];

    /// The canonical name: `cpu` or `webgpu`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }

    /// Creates the device, failing clearly when no adapter exists (native only: the browser
    /// creates its WebGPU device asynchronously).
    #[cfg(not(target_family = "wasm"))]
    pub fn device(self) -> Result<burn::tensor::Device, BackendUnavailable> {
        let unavailable = |reason: String| BackendUnavailable {
            backend: self,
            reason,
        };
        match self {
            #[cfg(feature = "flex")]
            Self::Cpu => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "wgpu")]
            Self::WebGpu => burn::tensor::Device::wgpu_options()
                .device_kind(burn::tensor::DeviceKind::DefaultDevice)
                .init()
                .map_err(|e| {
                    unavailable(format!(
                        "no usable wgpu adapter (is a Vulkan driver installed?): {e}"
                    ))
                }),
            #[allow(unreachable_patterns)]
            _ => Err(unavailable("this build does not include it".into())),
        }
    }
}

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "webgpu" | "wgpu" | "gpu" => Ok(Self::WebGpu),
            _ => Err(UnknownBackend(name.to_string())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_and_aliases_parse() {
        for (name, backend) in [
            ("cpu", Backend::Cpu),
            ("flex", Backend::Cpu),
            ("webgpu", Backend::WebGpu),
            ("wgpu", Backend::WebGpu),
            ("WebGPU", Backend::WebGpu),
        ] {
            assert_eq!(name.parse::<Backend>().ok(), Some(backend), "{name}");
        }
        for backend in Backend::ALL {
            assert_eq!(backend.name().parse::<Backend>().ok(), Some(backend));
        }
        assert!("cuda".parse::<Backend>().is_err());
    }
}
