//! Where batches of tiles run: one at a time in this thread ([`Here`]), or several at once on
//! other threads (the browser package's pool of Web Workers, `web::pool`). The scheduler
//! ([`super::run::run_tiled_on`]) cuts the tiles, feeds the lanes and blends the results in plan
//! order, so every kind of lane gives the same bytes.

use burn::tensor::{Device, Tensor, TensorData};

use super::geometry::{TileRect, mirror};
use super::run::TileModel;
use crate::Size;

/// Runs batches of tiles for a model `M`: up to [`TileLanes::lanes`] batches are in flight at
/// once, each started by [`TileLanes::submit`] and collected, in whatever order they finish, by
/// [`TileLanes::next`].
#[allow(async_fn_in_trait)]
pub trait TileLanes<M: TileModel> {
    /// Batches that may be in flight at once (at least 1).
    fn lanes(&self) -> usize;

    /// Starts batch `job`: `count` tiles of `shape`, planar `[count, in_channels, height,
    /// width]` values in [0, 1] (see [`cut_batch`]).
    fn submit(&mut self, model: &M, job: usize, shape: Size, count: usize, input: Vec<f32>);

    /// Waits for one of the batches in flight to finish: its `job` and each tile's planar
    /// output `[out_channels, height * scale, width * scale]`, or why the device failed on it.
    /// Called only while a batch is in flight.
    async fn next(&mut self, model: &M) -> (usize, Result<Vec<Vec<f32>>, String>);
}

/// Copies the `rect` tile out of planar `[channels, height, width]` pixels of an `image`-sized
/// image, mirroring past the image border; returns `[channels, rect.h, rect.w]`.
pub fn cut_tile(planes: &[f32], channels: usize, image: Size, rect: TileRect) -> Vec<f32> {
    let Size { height, width } = image;
    let mut out = Vec::with_capacity(channels * rect.h * rect.w);
    for c in 0..channels {
        let plane = &planes[c * height * width..(c + 1) * height * width];
        for r in 0..rect.h {
            let row = mirror(rect.y + r, height) * width;
            out.extend((0..rect.w).map(|x| plane[row + mirror(rect.x + x, width)]));
        }
    }
    out
}

/// The input of one forward over `batch`: the tiles cut from the planar `[channels, height,
/// width]` pixels of an `image`-sized image, one after another.
pub fn cut_batch(planes: &[f32], channels: usize, image: Size, batch: &[TileRect]) -> Vec<f32> {
    batch.iter().flat_map(|&rect| cut_tile(planes, channels, image, rect)).collect()
}

/// One forward of `model` over `count` tiles of `shape` (planar `input`, see [`cut_batch`]) on
/// `device`, with what `prepared` holds for that shape; returns each tile's planar output.
pub async fn forward_tiles<M: TileModel>(
    model: &M,
    prepared: &M::Prepared,
    device: &Device,
    shape: Size,
    count: usize,
    input: Vec<f32>,
) -> Result<Vec<Vec<f32>>, String> {
    let dims = [count, model.in_channels(), shape.height, shape.width];
    let x = Tensor::<4>::from_data(TensorData::new(input, dims), device);
    let out = model.forward(prepared, x)?;
    let data = out.into_data_async().await.map_err(|e| format!("{e:?}"))?;
    let values = data.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err("the model returned NaN or infinite values".into());
    }
    let per_tile = values.len() / count.max(1);
    Ok(values.chunks_exact(per_tile.max(1)).map(<[f32]>::to_vec).collect())
}

/// One lane in this thread: each batch runs when it is collected. `P` is the model's
/// [`TileModel::Prepared`], built once per tile shape and kept for the next batches.
pub struct Here<P> {
    device: Device,
    prepared: Option<(Size, P)>,
    queued: Option<(usize, Size, usize, Vec<f32>)>,
}

impl<P> Here<P> {
    /// A lane on `device`.
    pub fn new(device: Device) -> Self {
        Here { device, prepared: None, queued: None }
    }
}

impl<M: TileModel> TileLanes<M> for Here<M::Prepared> {
    fn lanes(&self) -> usize {
        1
    }

    fn submit(&mut self, _model: &M, job: usize, shape: Size, count: usize, input: Vec<f32>) {
        self.queued = Some((job, shape, count, input));
    }

    async fn next(&mut self, model: &M) -> (usize, Result<Vec<Vec<f32>>, String>) {
        let Some((job, shape, count, input)) = self.queued.take() else {
            return (0, Err("internal: no batch in flight".into()));
        };
        if self.prepared.as_ref().is_none_or(|(prepared_for, _)| *prepared_for != shape) {
            self.prepared = Some((shape, model.prepare(shape, &self.device)));
        }
        let (_, prepared) = self.prepared.as_ref().expect("prepared above");
        (job, forward_tiles(model, prepared, &self.device, shape, count, input).await)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn cut_tile_mirrors_past_the_border() {
        // One 2x3 channel; a 4x4 tile at the origin reads rows 0,1,0,1 and columns 0,1,2,1.
        let planes = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
        let got = cut_tile(&planes, 1, Size { height: 2, width: 3 }, TileRect { y: 0, x: 0, h: 4, w: 4 });
        assert_eq!(got, vec![0., 1., 2., 1., 10., 11., 12., 11., 0., 1., 2., 1., 10., 11., 12., 11.]);
    }
}
