//! `TileWorker`: what a worker of the CPU pool (npm/pool.js) runs: the model on Burn's flex
//! backend and one batch of tiles at a time, cut and blended by the page's scheduler. Internal
//! to the package: left out of its TypeScript declarations.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Float32Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::restorer::cpu_limits;
use crate::Size;
use crate::model::{Grl, TableIndexMask};
use crate::restore::GrlTiles;
use crate::tiling::lanes::{Here, TileLanes};
use crate::tiling::run::TileModel;
use crate::web_format;

struct Inner {
    grl: Grl,
    /// The lane, with the tables of the last tile shape; taken while a batch runs.
    here: RefCell<Option<Here<TableIndexMask>>>,
}

/// The model in a worker of the CPU pool.
#[wasm_bindgen(skip_typescript)]
pub struct TileWorker {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl TileWorker {
    /// Loads a web-format model onto the CPU.
    #[wasm_bindgen(constructor, skip_typescript)]
    pub fn new(weights: &[u8]) -> Result<TileWorker, JsError> {
        let device = Device::flex();
        let (grl, _) = web_format::load(weights, &device).map_err(|e| JsError::new(&format!("cannot load the weights: {e}")))?;
        let here = RefCell::new(Some(Here::new(device)));
        Ok(TileWorker { inner: Rc::new(Inner { grl, here }) })
    }

    /// Restores `count` tiles of `height` x `width`, planar `[count, channels, height, width]`
    /// (the model's channels and `extra` planes resampled alongside); resolves to the planar
    /// outputs, one tile after another, as a `Float32Array`.
    #[wasm_bindgen(skip_typescript)]
    pub fn run(&self, input: Vec<f32>, count: usize, channels: usize, height: usize, width: usize, extra: usize) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let tiles = GrlTiles { grl: &inner.grl, extra, limits: cpu_limits() };
            let shape = Size { height, width };
            if channels != tiles.in_channels() || input.len() != count * channels * shape.area() {
                let expected = tiles.in_channels();
                return Err(JsError::new(&format!(
                    "a batch of {} values for {count} x {channels} x {height} x {width}: the model takes {expected} channels",
                    input.len()
                ))
                .into());
            }
            let mut here = inner.here.take().ok_or_else(|| JsError::new("internal: a worker ran two batches at once"))?;
            here.submit(&tiles, 0, shape, count, input);
            let (_, result) = here.next(&tiles).await;
            inner.here.replace(Some(here));
            let outputs = result.map_err(|e| JsError::new(&e))?;
            Ok(Float32Array::from(outputs.concat().as_slice()).into())
        })
    }
}
