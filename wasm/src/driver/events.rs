//! Listeners the page registers on a torrent (`torrent.on(name, fn)`), called outside the
//! driver so a listener may call back into the API.

use std::collections::BTreeMap;

use js_sys::Function;
use wasm_bindgen::JsValue;

use crate::js;

#[derive(Default)]
pub struct Listeners(BTreeMap<String, Vec<Function>>);

impl Listeners {
    pub fn add(&mut self, event: &str, listener: Function) {
        self.0.entry(event.to_owned()).or_default().push(listener);
    }

    pub fn emit(&self, event: &str, payload: impl Into<JsValue>) {
        let Some(listeners) = self.0.get(event) else {
            return;
        };
        let payload = payload.into();
        for listener in listeners.clone() {
            let payload = payload.clone();
            js::defer(move || {
                // A listener that throws is the page's bug; the swarm goes on.
                let _ = listener.call1(&JsValue::NULL, &payload);
            });
        }
    }
}
