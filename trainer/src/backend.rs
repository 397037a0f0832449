//! Choosing where the model runs.

use anyhow::{Context, Result};
use burn::tensor::{Device, DeviceKind};
use clap::ValueEnum;

/// A compute backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// CPU (burn-flex, SIMD, all cores).
    Flex,
    /// GPU through wgpu (Vulkan, Metal or DX12; lavapipe counts).
    Wgpu,
}

impl Backend {
    /// Creates the device, failing clearly when no adapter exists.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => Device::wgpu_options()
                .device_kind(DeviceKind::DefaultDevice)
                .init()
                .context("no usable wgpu adapter (is a Vulkan driver installed?)"),
        }
    }
}
