//! The Origin Private File System store: requests to a dedicated worker that holds the file's
//! `FileSystemSyncAccessHandle` (see `opfs_worker.js` for why a worker).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FilePropertyBag, MessageEvent, Worker};

use super::StoreError;
use crate::js::{get, set};

const WORKER_SOURCE: &str = include_str!("opfs_worker.js");

type Pending = RefCell<BTreeMap<u32, (Function, Function)>>;

pub struct OpfsStore {
    /// The file held data before (an earlier download): its pieces are worth checking.
    pub found_data: bool,
    worker: Worker,
    pending: Rc<Pending>,
    next_id: Cell<u32>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl OpfsStore {
    /// Opens (creating or resizing) the file `name` of `length` bytes.
    pub async fn open(name: &str, length: u64) -> Result<Self, StoreError> {
        let worker = crate::js::worker_from_source(WORKER_SOURCE)?;
        let pending: Rc<Pending> = Rc::default();
        let on_message = {
            let pending = Rc::clone(&pending);
            Closure::new(move |event: MessageEvent| settle(&pending, &event.data()))
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let mut store = Self {
            found_data: false,
            worker,
            pending,
            next_id: Cell::new(0),
            _on_message: on_message,
        };
        let request = Object::new();
        set(&request, "op", &"open".into());
        set(&request, "name", &name.into());
        set(&request, "length", &(length as f64).into());
        let found = store.request(&request, &Array::new()).await?;
        store.found_data = found.as_f64().is_some_and(|size| size > 0.0);
        Ok(store)
    }

    pub async fn write(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let buffer = Uint8Array::from(data).buffer();
        let request = Object::new();
        set(&request, "op", &"write".into());
        set(&request, "offset", &(offset as f64).into());
        set(&request, "data", &buffer);
        self.request(&request, &Array::of1(&buffer)).await?;
        Ok(())
    }

    pub async fn read(&self, offset: u64, len: u32) -> Result<Bytes, StoreError> {
        let request = Object::new();
        set(&request, "op", &"read".into());
        set(&request, "offset", &(offset as f64).into());
        set(&request, "length", &len.into());
        let buffer: ArrayBuffer = self
            .request(&request, &Array::new())
            .await?
            .dyn_into()
            .map_err(|_| StoreError::Js("read returned no buffer".into()))?;
        Ok(Bytes::from(Uint8Array::new(&buffer).to_vec()))
    }

    /// A snapshot of the stored payload, renamed `name` for saving.
    pub async fn file(&self, name: &str) -> Result<File, StoreError> {
        let request = Object::new();
        set(&request, "op", &"file".into());
        let stored = self.request(&request, &Array::new()).await?;
        let options = FilePropertyBag::new();
        options.set_type("application/octet-stream");
        Ok(File::new_with_blob_sequence_and_options(
            &Array::of1(&stored),
            name,
            &options,
        )?)
    }

    async fn request(&self, request: &Object, transfer: &Array) -> Result<JsValue, StoreError> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        set(request, "id", &id.into());
        let pending = Rc::clone(&self.pending);
        let reply = Promise::new(&mut |resolve, reject| {
            pending.borrow_mut().insert(id, (resolve, reject));
        });
        if let Err(err) = self.worker.post_message_with_transfer(request, transfer) {
            self.pending.borrow_mut().remove(&id);
            return Err(err.into());
        }
        Ok(JsFuture::from(reply).await?)
    }
}

impl Drop for OpfsStore {
    fn drop(&mut self) {
        // Terminating releases the access handle; pending requests never settle, and their
        // futures are gone with their owners.
        self.worker.set_onmessage(None);
        self.worker.terminate();
    }
}

/// Resolves or rejects the request a worker reply names.
fn settle(pending: &Pending, reply: &JsValue) {
    let Some(id) = get(reply, "id").as_f64() else {
        return;
    };
    let Some((resolve, reject)) = pending.borrow_mut().remove(&(id as u32)) else {
        return;
    };
    let error = get(reply, "error");
    // A throwing settle function only means the promise is already gone.
    let _ = if error.is_undefined() {
        resolve.call1(&JsValue::NULL, &get(reply, "result"))
    } else {
        reject.call1(&JsValue::NULL, &error)
    };
}
