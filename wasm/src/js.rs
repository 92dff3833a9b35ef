//! Thin helpers over the browser: object fields, time, timers, deferral, and the JS glue.

use std::time::Duration;

use bitfleet_core::Instant;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = iceGathered)]
    pub fn ice_gathered(pc: &web_sys::RtcPeerConnection, ms: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = remoteAddress)]
    pub fn remote_address(pc: &web_sys::RtcPeerConnection) -> js_sys::Promise;
    #[wasm_bindgen(js_name = workerFromSource, catch)]
    pub fn worker_from_source(source: &str) -> Result<web_sys::Worker, JsValue>;
}

pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a field on a plain object we made cannot fail.
    let _ = Reflect::set(target, &key.into(), value);
}

/// A plain object from `(key, value)` pairs.
pub fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (key, value) in fields {
        set(&object, key, value);
    }
    object
}

/// A readable message for a thrown JavaScript value.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

pub fn window() -> Result<web_sys::Window, JsValue> {
    web_sys::window().ok_or_else(|| JsValue::from_str("no window: run Bitfleet on a page"))
}

/// `GET url`, failing on a network error or a status other than 2xx.
pub async fn fetch(url: &str) -> Result<web_sys::Response, JsValue> {
    let response: web_sys::Response =
        wasm_bindgen_futures::JsFuture::from(window()?.fetch_with_str(url))
            .await?
            .dyn_into()?;
    if response.ok() {
        Ok(response)
    } else {
        let message = format!("GET {url}: HTTP {}", response.status());
        Err(js_sys::Error::new(&message).into())
    }
}

/// Whether this page may use the Origin Private File System (secure contexts only).
pub fn has_opfs() -> bool {
    web_sys::window().is_some_and(|window| {
        window.is_secure_context()
            && !get(&get(&window.navigator(), "storage"), "getDirectory").is_undefined()
    })
}

thread_local! {
    /// Looked up once: the clock is read on every event.
    static PERFORMANCE: Option<web_sys::Performance> =
        web_sys::window().and_then(|w| w.performance());
}

/// The engine's clock: `performance.now()`, monotonic from page load.
pub fn now() -> Instant {
    let millis = PERFORMANCE.with(|performance| {
        performance
            .as_ref()
            .map_or_else(js_sys::Date::now, web_sys::Performance::now)
    });
    Instant::from_epoch(Duration::from_secs_f64(millis.max(0.0) / 1000.0))
}

/// Runs `f` from the microtask queue, outside whatever callback is running now. Every browser
/// callback goes through here, so a handler may tear down the object that owns its closure.
pub fn defer(f: impl FnOnce() + 'static) {
    wasm_bindgen_futures::spawn_local(async move { f() });
}

/// A `setTimeout` cleared when dropped.
pub struct Timeout {
    handle: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    pub fn new(delay: Duration, f: impl FnOnce() + 'static) -> Result<Self, JsValue> {
        let callback = Closure::once(move || defer(f));
        let millis = i32::try_from(delay.as_millis()).unwrap_or(i32::MAX);
        let handle = window()?.set_timeout_with_callback_and_timeout_and_arguments_0(
            callback.as_ref().unchecked_ref(),
            millis,
        )?;
        Ok(Self {
            handle,
            _callback: callback,
        })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.handle);
        }
    }
}
