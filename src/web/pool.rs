//! The CPU fallback on every core: a pool of module Web Workers (npm/pool.js), each with its
//! own instance of this WebAssembly module and its own copy of the model ([`super::TileWorker`]),
//! fed batches of tiles by the scheduler ([`crate::tiling::run::run_tiled_on`]) through
//! [`PoolLanes`]; the results are blended here, in plan order, so the output is the one-thread
//! output to the last bit.
//!
//! Workers rather than WebAssembly threads: threads need a nightly compiler (`-Z build-std`
//! with `+atomics`) and a cross-origin isolated page (COOP/COEP headers), which a plain static
//! host does not send; workers with their own memory need neither.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::Size;
use crate::restore::GrlTiles;
use crate::tiling::lanes::TileLanes;
use crate::tiling::run::TileModel;

#[wasm_bindgen(module = "/npm/pool.js")]
extern "C" {
    /// The started workers (npm/pool.js).
    type WorkerPool;

    /// Starts `size` workers with an instance of `module` and a copy of `weights` each;
    /// resolves to the pool of those that started, rejects when none did.
    #[wasm_bindgen(js_name = startPool)]
    fn start_pool(module: &JsValue, weights: &[u8], size: usize) -> Promise;

    #[wasm_bindgen(method, getter)]
    fn size(this: &WorkerPool) -> usize;

    /// Runs `count` tiles on worker `worker`; resolves to `{ job, output }` or `{ job, error }`.
    #[wasm_bindgen(method)]
    #[allow(clippy::too_many_arguments)]
    fn run(
        this: &WorkerPool,
        worker: usize,
        job: usize,
        input: Float32Array,
        count: usize,
        channels: usize,
        height: usize,
        width: usize,
        extra: usize,
    ) -> Promise;

    /// Ends every worker; jobs in flight resolve with an error.
    #[wasm_bindgen(method)]
    fn terminate(this: &WorkerPool);
}

/// The workers of one Restorer; ended by [`Pool::end`] or when dropped.
pub(super) struct Pool {
    js: WorkerPool,
    ended: Rc<Cell<bool>>,
}

impl Pool {
    /// Starts up to `size` workers, each loading `weights`. An error says why none started.
    pub(super) async fn start(weights: &[u8], size: usize) -> Result<Pool, String> {
        let started = JsFuture::from(start_pool(&wasm_bindgen::module(), weights, size)).await;
        let js = started.map_err(|e| js_sys::Error::from(e).message().as_string().unwrap_or_default())?;
        Ok(Pool { js: js.unchecked_into(), ended: Rc::new(Cell::new(false)) })
    }

    /// Workers started.
    pub(super) fn size(&self) -> usize {
        self.js.size()
    }

    /// Set once the pool has ended: a restore in flight stops before its next batch.
    pub(super) fn ended(&self) -> Rc<Cell<bool>> {
        self.ended.clone()
    }

    /// Ends every worker now.
    pub(super) fn end(&self) {
        self.ended.set(true);
        self.js.terminate();
    }

    /// Lanes for one restore on the first `lanes` workers.
    pub(super) fn lanes(&self, lanes: usize) -> PoolLanes<'_> {
        PoolLanes { pool: &self.js, lanes: lanes.clamp(1, self.size()), running: Vec::new() }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.end();
    }
}

/// A batch on a worker: its worker, job, tile count, output length and answer.
struct Running {
    worker: usize,
    job: usize,
    count: usize,
    output_len: usize,
    answer: Promise,
}

/// One restore's batches on the pool, one batch per worker at a time.
pub(super) struct PoolLanes<'p> {
    pool: &'p WorkerPool,
    lanes: usize,
    running: Vec<Running>,
}

impl<'g> TileLanes<GrlTiles<'g>> for PoolLanes<'_> {
    fn lanes(&self) -> usize {
        self.lanes
    }

    fn submit(&mut self, model: &GrlTiles<'g>, job: usize, shape: Size, count: usize, input: Vec<f32>) {
        let worker = (0..self.lanes).find(|w| self.running.iter().all(|r| r.worker != *w)).unwrap_or(0);
        let output_len = count * model.out_channels() * shape.scaled(model.scale()).area();
        let input = Float32Array::from(input.as_slice());
        let (channels, height, width) = (model.in_channels(), shape.height, shape.width);
        let answer = self.pool.run(worker, job, input, count, channels, height, width, model.extra);
        self.running.push(Running { worker, job, count, output_len, answer });
    }

    async fn next(&mut self, _model: &GrlTiles<'g>) -> (usize, Result<Vec<Vec<f32>>, String>) {
        let answers: Array = self.running.iter().map(|r| JsValue::from(&r.answer)).collect();
        let answer = JsFuture::from(Promise::race(&answers)).await.unwrap_or_else(|e| e);
        let job = Reflect::get(&answer, &"job".into()).ok().and_then(|j| j.as_f64());
        let index = job.and_then(|job| self.running.iter().position(|r| r.job as f64 == job)).unwrap_or(0);
        let running = self.running.remove(index);
        (running.job, outputs(&answer, &running))
    }
}

/// The tile outputs a worker's `answer` to `running` holds, or its error.
fn outputs(answer: &JsValue, running: &Running) -> Result<Vec<Vec<f32>>, String> {
    let output = Reflect::get(answer, &"output".into()).ok().and_then(|o| o.dyn_into::<Float32Array>().ok());
    let Some(output) = output else {
        let error = Reflect::get(answer, &"error".into()).ok().and_then(|e| e.as_string());
        return Err(error.unwrap_or_else(|| format!("a worker answered {answer:?}")));
    };
    if output.length() as usize != running.output_len {
        return Err(format!("a worker returned {} values: expected {}", output.length(), running.output_len));
    }
    let values = output.to_vec();
    Ok(values.chunks_exact(running.output_len / running.count).map(<[f32]>::to_vec).collect())
}

/// Memory the workers' forwards and model copies may take together, unless the device reports
/// less (`navigator.deviceMemory`, of which they take at most half).
const POOL_BUDGET: u64 = 2 << 30;

/// [`POOL_BUDGET`], or half of what `navigator.deviceMemory` (GiB) reports when that is less.
pub(super) fn pool_budget() -> u64 {
    let device = navigator_number("deviceMemory").map(|gib| (gib * (1u64 << 30) as f64 / 2.0) as u64);
    device.map_or(POOL_BUDGET, |half| half.min(POOL_BUDGET))
}

/// `navigator[key]` of the page or worker, when it is a positive number.
pub(super) fn navigator_number(key: &str) -> Option<f64> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    Reflect::get(&navigator, &key.into()).ok()?.as_f64().filter(|n| *n > 0.0)
}
