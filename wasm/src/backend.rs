//! Which compute backend runs the model in the browser, and getting its device.

use burn::tensor::Device;

use super::error;
pub(super) use onesheet::backend::Backend;

/// What a page may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    /// Whichever of the two is faster here.
    Auto,
    /// One backend, no trial of the other.
    Only(Backend),
}

impl Request {
    /// `"auto"`, or a backend in the shared vocabulary (aliases included).
    pub(super) fn parse(name: &str) -> Result<Self, wasm_bindgen::JsError> {
        if name.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        name.parse()
            .map(Self::Only)
            .map_err(|e| error(format!("{e}, or \"auto\"")))
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Only(backend) => backend.name(),
        }
    }
}

/// The device of `backend`, created on first use.
#[cfg_attr(
    not(feature = "wgpu"),
    expect(
        clippy::unused_async,
        reason = "async for WebGPU's device; the CPU-only build has only the CPU's"
    )
)]
pub(super) async fn device(backend: Backend) -> Result<Device, String> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        Backend::WebGpu => super::webgpu::device().await,
        // The default package is CPU-only (a fraction of the download); pages load the WebGPU
        // build, www/pkg-webgpu, only where WebGPU is present and wanted.
        #[cfg(not(feature = "wgpu"))]
        Backend::WebGpu => Err(
            "this is onesheet's CPU-only build (www/pkg); WebGPU runs in its WebGPU build \
             (www/pkg-webgpu)"
                .into(),
        ),
    }
}
