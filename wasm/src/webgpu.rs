//! The browser's WebGPU as a burn device (only in the WebGPU build, feature `wgpu`).

use std::cell::RefCell;

use burn::tensor::Device;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    // burn's wgpu runtime initialises once per page; every instance shares its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The page's WebGPU device, created on first use. WebGPU is probed first so a browser without
/// it gets a clear message rather than whatever wgpu makes of the absence.
pub(super) async fn device() -> Result<Device, String> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    probe_webgpu().await?;
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not start: {e}"))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// `Ok` when `navigator.gpu.requestAdapter()` gives an adapter.
async fn probe_webgpu() -> Result<(), String> {
    let global = js_sys::global();
    let gpu = get(&global, "navigator")
        .and_then(|navigator| get(&navigator, "gpu"))
        .filter(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .ok_or("this browser has no WebGPU (navigator.gpu is missing)")?;
    let request = get(&gpu, "requestAdapter")
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or("this browser's WebGPU has no requestAdapter()")?;
    let promise = request
        .call0(&gpu)
        .ok()
        .and_then(|p| p.dyn_into::<Promise>().ok())
        .ok_or("navigator.gpu.requestAdapter() failed")?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("navigator.gpu.requestAdapter() failed: {}", describe(&e)))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU is present but offers no adapter (no usable GPU)".into());
    }
    Ok(())
}

fn get(target: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(key)).ok()
}

/// A JS exception as text.
fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
