//! What a running restore says to JS, and hears from it, between tiles: `onProgress`, the
//! `AbortSignal`, the loss of the WebGPU device or the end of the worker pool, and a pause for
//! the page to repaint.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

use super::options::{ProgressTile, RestoreOptions};
use super::to_js;
use crate::tiling::run::{TileHooks, TileProgress};

/// Progress, cancellation and yielding, for JS callers.
pub(super) struct JsHooks {
    on_progress: Option<Function>,
    signal: Option<AbortSignal>,
    /// The device's loss, once it happens: stops the job before the next tile.
    pub(super) lost: Option<Arc<OnceLock<String>>>,
    /// Set when the worker pool ends (the Restorer is disposed): stops the job too.
    pub(super) ended: Option<Rc<Cell<bool>>>,
}

impl JsHooks {
    /// The hooks `options` ask for; the device's loss is watched once the device is known.
    pub(super) fn new(options: RestoreOptions) -> Self {
        JsHooks { on_progress: options.on_progress, signal: options.signal, lost: None, ended: None }
    }
}

impl TileHooks for JsHooks {
    fn progress(&mut self, p: TileProgress) {
        if let Some(f) = &self.on_progress {
            let tile = ProgressTile { x: p.rect.x, y: p.rect.y, width: p.rect.w, height: p.rect.h, tile: p.tile.height };
            let tile = to_js(&tile).unwrap_or(JsValue::UNDEFINED);
            let _ = f.call3(&JsValue::NULL, &(p.done as f64).into(), &(p.total as f64).into(), &tile);
        }
    }

    fn cancelled(&self) -> bool {
        self.lost.as_ref().is_some_and(|lost| lost.get().is_some())
            || self.ended.as_ref().is_some_and(|ended| ended.get())
            || self.signal.as_ref().is_some_and(AbortSignal::aborted)
    }

    async fn pause(&mut self) {
        // A macrotask, so the page repaints and handles events (and an abort) between tiles.
        let promise = Promise::new(&mut |resolve, _| {
            let set_timeout = Reflect::get(&js_sys::global(), &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<Function>().ok());
            match set_timeout {
                Some(set_timeout) => {
                    let _ = set_timeout.call2(&JsValue::NULL, &resolve, &0.into());
                }
                None => {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            }
        });
        let _ = JsFuture::from(promise).await;
    }
}
