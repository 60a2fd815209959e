//! The one place the fused CPU kernels split their work: pieces of an output slice, in parallel
//! on rayon's pool natively (bounded by `--threads`), one after the other in WebAssembly (where
//! the package parallelises across tiles in workers instead).

/// Runs `f(i, piece)` on every `chunk`-long piece of `values` (the last may be shorter).
pub fn for_each_chunk(values: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    for_each_chunk_with(values, chunk, || (), |_, i, piece| f(i, piece));
}

/// [`for_each_chunk`] with a scratch value per thread, made by `init` and handed to every piece
/// that thread runs.
pub fn for_each_chunk_with<S>(
    values: &mut [f32],
    chunk: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [f32]) + Sync + Send,
) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(chunk).enumerate().for_each_init(init, |scratch, (i, piece)| f(scratch, i, piece));
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut scratch = init();
        values.chunks_mut(chunk).enumerate().for_each(|(i, piece)| f(&mut scratch, i, piece));
    }
}
